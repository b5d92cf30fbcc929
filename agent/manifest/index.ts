// The snapshot manifest: model, JSON-lines codec, and storage as chunks.
export { MANIFEST_VERSION, encodeHeader, encodeEntry, decodeHeader, decodeEntry, LineSplitter } from './model.ts';
export type { ManifestHeader, ManifestEntry } from './model.ts';
export { ManifestWriter, openManifest } from './store.ts';
export type { OpenedManifest } from './store.ts';
