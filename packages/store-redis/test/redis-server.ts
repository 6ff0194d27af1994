/**
 * Real redis-server processes for these tests come from @culex/test-kit (free port, temp dir
 * with an append-only file, stopped by PID; a Redis Cluster formed with redis-cli). Here: the
 * culex arguments for the shared end-to-end suites.
 */
import { execFileSync } from 'node:child_process'
import { startRedis, startRedisCluster, type RedisCluster } from '@culex/test-kit'
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

/**
 * culex arguments for a store on one 3-master Redis Cluster shared by the tests of a file
 * (started at the first call, stopped at `root`'s teardown) and emptied (FLUSHALL on every
 * master) before each further use: a fresh store each time, without paying the cluster's
 * ~2 s of forming again.
 */
export function sharedClusterStoreArgs (root: Test): (dir: string, t: Test) => Promise<string[]> {
  let cluster: Promise<RedisCluster> | null = null
  return async () => {
    if (cluster === null) {
      cluster = startRedisCluster(3, { teardown: root })
    } else {
      for (const port of (await cluster).ports) execFileSync('redis-cli', ['-p', String(port), 'flushall'])
    }
    return ['--store', (await cluster).url]
  }
}
