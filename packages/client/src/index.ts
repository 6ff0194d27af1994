export { Client, connect } from './node.ts'
export { ClientCore, Subscription } from './client.ts'
export { MessageStream, DEFAULT_STREAM_BUFFER } from './message-stream.ts'
export { ClientError, ClientErrorCodes, isClientError, CONNACK_RETURN_CODE_TO_REASON } from './errors.ts'
export type { ClientErrorCode } from './errors.ts'
export { checkTopicName, checkTopicFilter } from './topic.ts'
/** Whether topic name `topic` matches topic filter `filter` (MQTT rules): `matches` of @culex/trie. */
export { matches as matchTopic } from '@culex/trie'
export { backoffDelay } from './backoff.ts'
export type { ReconnectOptions } from './backoff.ts'
export { nodeTransport } from './transport-node.ts'
export type { Transport, TransportFactory, TransportHandlers, TransportOptions } from './transport.ts'
export type {
  AuthHook, ClientEvents, ClientOptions, ConnectResult, EndOptions, Granted, Message, Payload,
  PublishOptions, PublishResult, SubscribeOptions, TlsOptions, WillOptions
} from './types.ts'
