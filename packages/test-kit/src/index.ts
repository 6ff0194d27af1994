/**
 * @culex/test-kit: what every package's tests share (private, never published). Free ports,
 * the built `culex` command, `redis-server` (and Redis Cluster), `mosquitto` and `openssl`
 * certificates as real processes a test starts and stops by PID, and skips with a reason
 * when a program is not installed (a tap skip, never a pass).
 */
export { startProcess, tempDir, sleep, within, tail, type Teardown, type Exit, type ManagedProcess, type StartProcessOptions } from './proc.ts'
export { freePort, isListening, waitForPort } from './ports.ts'
export { missing, which, hasBinary } from './skip.ts'
export { CULEX_CLI, culexMissing, culexSkip, cleanEnv, startCulex, runCulex, type Culex, type CulexOptions } from './culex.ts'
export { startRedis, startRedisCluster, redisMissing, type RedisServer, type RedisCluster } from './redis.ts'
export { startMosquitto, mosquittoMissing, MOSQUITTO, type Mosquitto, type MosquittoOptions } from './mosquitto.ts'
export { makeCert, makePki, type Pki } from './tls.ts'
export { runtimeImporters } from './imports.ts'
export { startProxy, type Proxy } from './proxy.ts'
export { startCulexCluster, type CulexCluster, type CulexClusterOptions } from './cluster.ts'
export { errorClassTest, type ErrorClassOptions } from './errors.ts'
