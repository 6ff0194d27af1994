export {
  Aedes, createBroker, type AedesOptions, type AedesEvents, type AedesPacket, type AedesSubscription,
  type PublishInput, type HookError, type PreConnectHandler, type AuthenticateHandler,
  type AuthorizePublishHandler, type AuthorizeSubscribeHandler, type AuthorizeForwardHandler,
  type PublishedHandler, type DeliverFunc
} from './aedes.ts'
export { AedesClient } from './client.ts'
export { AedesError, AedesErrorCodes, isAedesError, type AedesErrorCode } from './errors.ts'
