/**
 * The aggregator's operator commands, mounted by cli/main.ts with one entry: accounts, groups, sites,
 * report, check-nagios. Command modules hold only commander definitions; sqlite, https and the reports load
 * inside the actions.
 */
import type { Command } from 'commander';
import { registerAggregator } from './aggregator.ts';
import { registerAccounts } from './accounts.ts';
import { registerCheckNagios } from './check-nagios.ts';
import { registerGroups } from './groups.ts';
import { registerReport } from './report.ts';
import { registerSites } from './sites.ts';

export { registerAggregator, registerAccounts, registerCheckNagios, registerGroups, registerReport, registerSites };

export function registerOperatorCommands(program: Command): void {
  registerAggregator(program);
  registerAccounts(program);
  registerGroups(program);
  registerSites(program);
  registerReport(program);
  registerCheckNagios(program);
}
