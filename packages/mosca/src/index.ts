import { persistence } from './persistence.ts'
import { Server } from './server.ts'

export {
  Server, MoscaClient, BUNDLE_PATH, listenersOf, type MoscaSettings, type MoscaEvents, type MoscaPacket,
  type Credentials, type InterfaceSettings, type AuthenticateFn, type AuthorizePublishFn,
  type AuthorizeSubscribeFn, type PublishedFn
} from './server.ts'
export {
  persistence, withPacketTtl, type PersistenceSettings, type PersistenceFactory, type BackendSettings
} from './persistence.ts'
export { MoscaError, MoscaErrorCodes, isMoscaError, type MoscaErrorCode } from './errors.ts'

/** `import mosca from '@culex/mosca'` then `new mosca.Server(settings)`, as with Mosca. */
const mosca = { Server, persistence }
export default mosca
