export { BoundedFrameQueue, emptyStats, type FrameHandler, type Transport, type TransportStats } from './transport.ts';
export { FrameDecoder, FrameTooLargeError, encodeFrameHeader, FRAME_HEADER_BYTES } from './framing.ts';
export { TlsTransport, defaultTlsTransportOptions, type TlsPeer, type TlsMaterial, type TlsTransportOptions } from './tls.ts';
export { MqttTransport, defaultMqttTransportOptions, type FrameSealer, type MqttTransportOptions } from './mqtt.ts';
export { MemoryNetwork, MemoryTransport } from './memory.ts';
export { envelopeSealer, type EnvelopeSealerOptions } from './envelope-sealer.ts';
