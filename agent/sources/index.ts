// Sources: directories and globs with excludes (scan), and MQTT sensor topics captured into rolling logs.
export { scanSources } from './scan.ts';
export type { ScanEntry, ScanItem, ScanProblem, ScanOptions, EntryKind } from './scan.ts';
export { Excluder, globToRegExp, globBase, hasGlob } from './glob.ts';
export { RotatingLog, shouldRotate, logFileName } from './rotating-log.ts';
export type { RotationPolicy } from './rotating-log.ts';
export { SensorCapture, captureLine, slugOf, topicMatches } from './capture.ts';
export type { CaptureOptions } from './capture.ts';
