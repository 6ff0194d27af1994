export { AppError, AppErrorCodes, isAppError, EXIT_CONFIG, EXIT_RUNTIME, type AppErrorCode } from './errors.ts'
export { OPTIONS, envName, type OptionSpec, type OptionValues, type OptionKind } from './options.ts'
export {
  loadConfig, parseArgv, parseEnv, parseConfigText, finalize, merge, isLoopback, coerce,
  type Config, type StoreChoice, type PartialOptions, type LoadInput, type LoadResult, type ParsedArgv
} from './config.ts'
export { helpText } from './help.ts'
export {
  hashPassword, verifyPassword, parseHash, parsePasswordFile, formatPasswordFile, PasswordDb, DEFAULT_ITERATIONS,
  type HashAlgorithm, type ParsedHash, type PasswordEntry
} from './passwd.ts'
export { runPasswd, defaultPasswdIo, type PasswdIo } from './passwd-command.ts'
export { parseAcl, Acl, type AclRule, type AclRules, type AclSubject } from './acl.ts'
export { filterMatches, filterCovers, isValidFilter } from './topic-match.ts'
export { startServer, type RunningServer, type BoundAddress } from './server.ts'
export { buildAuthHooks, type AuthConfig } from './auth.ts'
export { openStore, redactUrl, type OpenedStore } from './stores.ts'
export { createHttpHandler, resolveUnder, contentType, findClientBundle } from './static.ts'
export { createLogger } from './logger.ts'
export type {
  PluginHooks, PluginContext, PluginInit, PluginRoute, PluginRequest, PluginListener, PluginListenerStart
} from './plugins/index.ts'
