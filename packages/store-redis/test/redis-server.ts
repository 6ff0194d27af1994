/**
 * Real redis-server processes for these tests come from @culex/test-kit (free port, temp dir
 * with an append-only file, stopped by PID; a Redis Cluster formed with redis-cli). Here: the
 * culex arguments for the shared end-to-end suites.
 */
import { startRedis, startRedisCluster } from '@culex/test-kit'
import type { Test } from 'tap'

export { startRedis, startRedisCluster, type RedisServer, type RedisCluster } from '@culex/test-kit'

/** culex arguments for a store on a fresh standalone redis-server, stopped at `t`'s teardown. */
export async function standaloneStoreArgs (_dir: string, t: Test): Promise<string[]> {
  const server = await startRedis([], { teardown: t })
  return ['--store', server.url]
}

/** culex arguments for a store on a fresh 3-master Redis Cluster, stopped at `t`'s teardown. */
export async function clusterStoreArgs (_dir: string, t: Test): Promise<string[]> {
  const cluster = await startRedisCluster(3, { teardown: t })
  return ['--store', cluster.url]
}
