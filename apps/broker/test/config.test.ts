import t from 'tap'
import { parseArgv, parseEnv, parseConfigText, loadConfig, finalize, merge, isLoopback, coerce } from '../src/config.ts'
import { OPTIONS, BY_FLAG, envName } from '../src/options.ts'
import { isAppError, type AppErrorCode } from '../src/errors.ts'
import { helpText } from '../src/help.ts'

function codeOf (fn: () => unknown): AppErrorCode | 'no error' | 'not an AppError' {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isAppError(err) ? err.code : 'not an AppError'
  }
}

function run (argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const r = loadConfig({
    argv,
    env,
    cwd: '/work',
    readFile: (p) => {
      const f = files[p]
      if (f === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' })
      return f
    }
  })
  if (r.action !== 'run') throw new Error('expected run')
  return r.config
}

t.test('defaults: port 1883 on loopback, level store under cwd, anonymous allowed', async t => {
  const c = run([])
  t.equal(c.port, 1883)
  t.same(c.hosts, ['127.0.0.1', '::1'])
  t.equal(c.defaultHosts, true)
  t.same(c.store, { kind: 'level', dataDir: '/work/.culex-data', fsync: true })
  t.equal(c.allowAnonymous, true)
  t.equal(c.sysInterval, 10)
  t.same(c.limits, {})
  t.equal(c.tlsPort, undefined)
  t.equal(c.verbose, false)
})

t.test('flag forms', async t => {
  const rows: Array<[string, string[], Record<string, unknown>]> = [
    ['--port value', ['--port', '1999'], { port: 1999 }],
    ['--port=value', ['--port=0'], { port: 0 }],
    ['-p value', ['-p', '42'], { port: 42 }],
    ['bare bool', ['--allow-anonymous'], { allowAnonymous: true }],
    ['bool=false', ['--allow-anonymous=false'], { allowAnonymous: false }],
    ['--no-bool', ['--no-allow-anonymous'], { allowAnonymous: false }],
    ['-v', ['-v'], { verbose: true }],
    ['store url', ['--store', 'redis://localhost:6379/0'], { store: 'redis://localhost:6379/0' }],
    ['store mongodb+srv', ['--store=mongodb+srv://h/db'], { store: 'mongodb+srv://h/db' }],
    ['store redis cluster', ['--store', 'redis+cluster://h1:7000,h2:7001'], { store: 'redis+cluster://h1:7000,h2:7001' }],
    ['store mongodb replica set', ['--store', 'mongodb://u:p@h1:27017,h2,[::1]:27018/culex?replicaSet=rs0'], { store: 'mongodb://u:p@h1:27017,h2,[::1]:27018/culex?replicaSet=rs0' }],
    ['store redis cluster, TLS, credentials, IPv6, default port', ['--store', 'rediss+cluster://u:p%40ss@[::1]:7000,h2/'], { store: 'rediss+cluster://u:p%40ss@[::1]:7000,h2/' }],
    ['limits', ['--max-packet-size', '1024', '--publish-rate', '5'], { maxPacketSize: 1024, publishRate: 5 }]
  ]
  for (const [name, argv, want] of rows) t.same(parseArgv(argv).options, want, name)
  t.equal(parseArgv(['--help']).help, true)
  t.equal(parseArgv(['-h']).help, true)
  t.equal(parseArgv(['--version']).version, true)
})

t.test('bad flags give a code naming the problem', async t => {
  const rows: Array<[string, string[], AppErrorCode]> = [
    ['unknown flag', ['--nope'], 'CULEX_ERR_UNKNOWN_OPTION'],
    ['positional', ['1883'], 'CULEX_ERR_UNKNOWN_OPTION'],
    ['unknown short', ['-x'], 'CULEX_ERR_UNKNOWN_OPTION'],
    ['--no- on non-bool', ['--no-port'], 'CULEX_ERR_UNKNOWN_OPTION'],
    ['missing value', ['--port'], 'CULEX_ERR_MISSING_VALUE'],
    ['not a number', ['--port', 'abc'], 'CULEX_ERR_INVALID_OPTION'],
    ['out of range', ['--port', '65536'], 'CULEX_ERR_INVALID_OPTION'],
    ['negative', ['--port=-1'], 'CULEX_ERR_INVALID_OPTION'],
    ['fraction', ['--sys-interval', '1.5'], 'CULEX_ERR_INVALID_OPTION'],
    ['bad bool', ['--verbose=maybe'], 'CULEX_ERR_INVALID_OPTION'],
    ['bad store', ['--store', 'postgres://x'], 'CULEX_ERR_INVALID_OPTION'],
    ['bad store url', ['--store', 'redis://[bad'], 'CULEX_ERR_INVALID_OPTION'],
    ['redis cluster without nodes', ['--store', 'redis+cluster://'], 'CULEX_ERR_INVALID_OPTION'],
    ['mongodb host list with an empty host', ['--store', 'mongodb://h1,,h2/db'], 'CULEX_ERR_INVALID_OPTION'],
    ['redis cluster empty node', ['--store', 'redis+cluster://h1:7000,'], 'CULEX_ERR_INVALID_OPTION'],
    ['redis cluster port out of range', ['--store', 'redis+cluster://h1:7000,h2:65536'], 'CULEX_ERR_INVALID_OPTION'],
    ['redis cluster with a database', ['--store', 'redis+cluster://h1:7000/1'], 'CULEX_ERR_INVALID_OPTION'],
    ['redis cluster with a query', ['--store', 'redis+cluster://h1:7000?db=1'], 'CULEX_ERR_INVALID_OPTION'],
    ['empty string', ['--host', ' '], 'CULEX_ERR_INVALID_OPTION'],
    ['packet size below 64', ['--max-packet-size', '10'], 'CULEX_ERR_INVALID_OPTION'],
    ['inflight 0', ['--max-inflight', '0'], 'CULEX_ERR_INVALID_OPTION']
  ]
  for (const [name, argv, code] of rows) t.equal(codeOf(() => parseArgv(argv)), code, name)
  try {
    parseArgv(['--port', 'abc'])
  } catch (err) {
    t.ok(isAppError(err) && err.option === 'port' && /--port/.test(err.message) && /integer from 0 to 65535/.test(err.message) && /"abc"/.test(err.message),
      'message names the option, the expectation and the value')
    t.equal(isAppError(err) && err.exitCode, 2)
  }
  try {
    parseArgv(['--store', 'redis+cluster://h1:0'])
    t.fail('port 0 accepted')
  } catch (err) {
    t.ok(isAppError(err) && err.option === 'store' && /--store/.test(err.message) && /redis\+cluster:\/\/\[user:password@\]host:port\[,host:port\.\.\.\]/.test(err.message),
      'a bad cluster URL: the message names the option and the expected form')
  }
})

t.test('env vars', async t => {
  t.same(parseEnv({ CULEX_PORT: '1884', CULEX_ALLOW_ANONYMOUS: 'yes', CULEX_STORE: 'memory', PATH: '/bin', CULEX_HOST: '' }),
    { port: 1884, allowAnonymous: true, store: 'memory' })
  t.equal(codeOf(() => parseEnv({ CULEX_PROT: '1' })), 'CULEX_ERR_UNKNOWN_OPTION')
  t.equal(codeOf(() => parseEnv({ CULEX_PORT: 'x' })), 'CULEX_ERR_INVALID_OPTION')
  for (const o of OPTIONS) t.match(envName(o), /^CULEX_[A-Z_]+$/, `${o.key} has an env name`)
})

t.test('config file: YAML and JSON, camelCase and kebab-case keys', async t => {
  t.same(parseConfigText('port: 2000\nallow-anonymous: true\nmaxInflight: 5\nstore: memory\nhost: null\n', 'c.yaml'),
    { port: 2000, allowAnonymous: true, maxInflight: 5, store: 'memory' })
  t.same(parseConfigText('{"wsPort": "8080", "verbose": false}', 'c.json'), { wsPort: 8080, verbose: false })
  t.same(parseConfigText('', 'empty.yaml'), {})
  const rows: Array<[string, string, string, AppErrorCode]> = [
    ['bad yaml', 'port: [1', 'c.yaml', 'CULEX_ERR_CONFIG_FILE'],
    ['bad json', '{port: 1}', 'c.json', 'CULEX_ERR_CONFIG_FILE'],
    ['a list', '- 1\n- 2', 'c.yaml', 'CULEX_ERR_CONFIG_FILE'],
    ['a scalar', '42', 'c.yaml', 'CULEX_ERR_CONFIG_FILE'],
    ['unknown key', 'prot: 1', 'c.yaml', 'CULEX_ERR_UNKNOWN_OPTION'],
    ['nested config', 'config: other.yaml', 'c.yaml', 'CULEX_ERR_UNKNOWN_OPTION'],
    ['wrong type', 'port: "abc"', 'c.yaml', 'CULEX_ERR_INVALID_OPTION'],
    ['bool as number', 'verbose: 2', 'c.yaml', 'CULEX_ERR_INVALID_OPTION'],
    ['string as list', 'host: [a]', 'c.yaml', 'CULEX_ERR_INVALID_OPTION'],
    ['store as number', 'store: 1', 'c.yaml', 'CULEX_ERR_INVALID_OPTION']
  ]
  for (const [name, text, file, code] of rows) t.equal(codeOf(() => parseConfigText(text, file)), code, name)
})

t.test('precedence: flags > env > file > defaults', async t => {
  const files = { '/work/c.yaml': 'port: 1000\nsysInterval: 3\nmaxInflight: 7\nverbose: true\n' }
  const c = run(['--config', 'c.yaml', '--port', '3000'], { CULEX_PORT: '2000', CULEX_SYS_INTERVAL: '4' }, files)
  t.equal(c.port, 3000, 'flag beats env and file')
  t.equal(c.sysInterval, 4, 'env beats file')
  t.equal(c.limits.maxInflight, 7, 'file beats default')
  t.equal(c.verbose, true)
  const viaEnv = run([], { CULEX_CONFIG: 'c.yaml' }, files)
  t.equal(viaEnv.port, 1000, 'CULEX_CONFIG names the file')
  t.equal(codeOf(() => run(['--config', 'missing.yaml'])), 'CULEX_ERR_CONFIG_FILE')
  t.same(merge({ port: 1 }, { port: undefined }, { host: 'a' }), { port: 1, host: 'a' })
})

t.test('help and version short-circuit', async t => {
  t.same(loadConfig({ argv: ['--help', '--port', 'x'], env: {}, cwd: '/' }), { action: 'help' })
  t.same(loadConfig({ argv: ['--version'], env: {}, cwd: '/' }), { action: 'version' })
  const text = helpText()
  for (const o of OPTIONS) {
    t.ok(text.includes(`--${o.flag}`) && text.includes(envName(o)), `help lists --${o.flag}`)
  }
})

t.test('secure by default (Mosquitto 2.0 rule)', async t => {
  t.equal(codeOf(() => run(['--host', '0.0.0.0'])), 'CULEX_ERR_INSECURE')
  t.equal(codeOf(() => run(['--host', '::'])), 'CULEX_ERR_INSECURE')
  t.equal(codeOf(() => run(['--host', '0.0.0.0', '--allow-anonymous'])), 'no error')
  const withPw = run(['--host', '0.0.0.0', '--password-file', 'pw'])
  t.equal(withPw.allowAnonymous, false, 'a password file turns anonymous off')
  t.equal(withPw.passwordFile, '/work/pw')
  t.same(withPw.hosts, ['0.0.0.0'])
  t.equal(run(['--host', '127.0.0.2']).allowAnonymous, true, 'loopback needs nothing')
  t.equal(run(['--host', 'localhost']).defaultHosts, false)
  t.equal(run(['--password-file', 'pw', '--allow-anonymous']).allowAnonymous, true)
  t.ok(isLoopback('::1') && isLoopback('127.9.9.9') && !isLoopback('10.0.0.1') && !isLoopback('::'))
})

t.test('cross-option rules', async t => {
  const rows: Array<[string, string[], AppErrorCode]> = [
    ['tls without cert', ['--tls-port', '8883'], 'CULEX_ERR_CONFLICT'],
    ['wss without key', ['--wss-port', '8884', '--cert', 'c'], 'CULEX_ERR_CONFLICT'],
    ['cert without key', ['--cert', 'c'], 'CULEX_ERR_CONFLICT'],
    ['key without cert', ['--key', 'k'], 'CULEX_ERR_CONFLICT'],
    ['client certs without ca', ['--tls-port', '1', '--cert', 'c', '--key', 'k', '--require-client-cert'], 'CULEX_ERR_CONFLICT'],
    ['client certs without tls', ['--ca', 'a', '--require-client-cert'], 'CULEX_ERR_CONFLICT'],
    ['static without ws', ['--http-static', 'www'], 'CULEX_ERR_CONFLICT'],
    ['same port twice', ['--port', '1883', '--ws-port', '1883'], 'CULEX_ERR_CONFLICT'],
    ['cluster without redis', ['--cluster'], 'CULEX_ERR_CONFLICT'],
    ['cluster with mongo', ['--cluster', '--store', 'mongodb://h/db'], 'CULEX_ERR_CONFLICT'],
    ['cluster with redis', ['--cluster', '--store', 'redis://h', '--node-id', 'n1'], 'no error' as AppErrorCode],
    ['cluster with a redis cluster', ['--cluster', '--store', 'redis+cluster://h1:1,h2:2', '--node-id', 'n1'], 'no error' as AppErrorCode],
    ['cluster without a stable node id', ['--cluster', '--store', 'redis://h'], 'CULEX_ERR_CONFLICT'],
    ['cluster keeping its node id in --data-dir', ['--cluster', '--store', 'redis://h', '--data-dir', '/tmp/n'], 'no error' as AppErrorCode],
    ['cluster node id with a brace', ['--cluster', '--store', 'redis://h', '--node-id', 'a{b}'], 'CULEX_ERR_INVALID_OPTION'],
    ['cluster node id with a space', ['--cluster', '--store', 'redis://h', '--node-id', 'a b'], 'CULEX_ERR_INVALID_OPTION'],
    ['cluster node id empty', ['--cluster', '--store', 'redis://h', '--node-id', ''], 'CULEX_ERR_INVALID_OPTION'],
    ['dead-after without cluster', ['--store', 'redis://h', '--cluster-dead-after', '5000'], 'CULEX_ERR_CONFLICT'],
    ['dead-after below 300 ms', ['--cluster', '--store', 'redis://h', '--node-id', 'n1', '--cluster-dead-after', '100'], 'CULEX_ERR_INVALID_OPTION'],
    ['dead-after not a number', ['--cluster', '--store', 'redis://h', '--node-id', 'n1', '--cluster-dead-after', '3s'], 'CULEX_ERR_INVALID_OPTION'],
    ['dead-after', ['--cluster', '--store', 'redis://h', '--node-id', 'n1', '--cluster-dead-after', '1500'], 'no error' as AppErrorCode],
    ['port 0 twice is fine', ['--port', '0', '--ws-port', '0'], 'no error' as AppErrorCode],
    ['full tls', ['--tls-port', '8883', '--wss-port', '8884', '--cert', 'c', '--key', 'k', '--ca', 'a', '--require-client-cert'], 'no error' as AppErrorCode]
  ]
  for (const [name, argv, code] of rows) t.equal(codeOf(() => run(argv)), code, name)
})

t.test('store choice and limits mapping', async t => {
  t.same(run(['--store', 'memory']).store, { kind: 'memory' })
  t.same(run(['--data-dir', '/tmp/x']).store, { kind: 'level', dataDir: '/tmp/x', fsync: true })
  t.same(run(['--data-dir', '/tmp/x', '--no-fsync']).store, { kind: 'level', dataDir: '/tmp/x', fsync: false }, '--no-fsync relaxes the level store')
  t.equal(run([]).persistInflight, true, 'connected persistent sessions are stored by default')
  t.equal(run(['--no-persist-inflight']).persistInflight, false, '--no-persist-inflight')
  t.same(run(['--fsync=false']).store, { kind: 'level', dataDir: '/work/.culex-data', fsync: false }, '--fsync=false')
  t.same(run(['--store', 'rediss://h:1']).store, { kind: 'redis', url: 'rediss://h:1' })
  t.same(run(['--store', 'redis+cluster://h1:1,h2:2']).store, { kind: 'redis', url: 'redis+cluster://h1:1,h2:2' }, 'a Redis Cluster is a redis store (RedisStore parses the URL)')
  t.same(run(['--store', 'mongodb://h/db']).store, { kind: 'mongo', url: 'mongodb://h/db' })
  const c = run(['--max-connections', '0', '--max-retained', '0', '--max-keepalive', '60', '--max-topic-levels', '5',
    '--max-queued-messages', '0', '--connect-timeout', '100', '--topic-alias-maximum', '0', '--max-buffered-bytes', '2048',
    '--max-session-expiry', '60', '--max-inflight', '9', '--max-packet-size', '64', '--publish-rate', '10'])
  t.same(c.limits, {
    maxKeepalive: 60,
    maxConnections: Infinity,
    maxPacketSize: 64,
    maxTopicLevels: 5,
    maxQueuedMessages: 0,
    maxInflight: 9,
    maxRetained: Infinity,
    connectTimeout: 100,
    publishRatePerSecond: 10,
    topicAliasMaximum: 0,
    maxBufferedBytes: 2048,
    maxSessionExpiryInterval: 60
  })
  t.equal(run(['--max-connections', '5']).limits.maxConnections, 5)
  t.same(run(['--max-inflight-out', '50']).limits, { maxInflightOut: 50 }, '--max-inflight-out alone sets only the outbound window')
  t.same(run(['--max-pending-connections', '10', '--max-pending-per-address', '2', '--max-connect-packet-size', '1024',
    '--max-user-properties', '3', '--max-user-property-bytes', '100', '--max-topic-alias-bytes', '0', '--max-aliased-topic-length', '64']).limits, {
    maxPendingConnections: 10,
    maxPendingPerAddress: 2,
    maxConnectPacketSize: 1024,
    maxUserProperties: 3,
    maxUserPropertyBytes: 100,
    maxTopicAliasBytes: 0,
    maxAliasedTopicLength: 64
  }, 'the hostile-client limits')
  t.equal(run(['--max-retained', '5']).limits.maxRetained, 5)
})

t.test('flow control options', async t => {
  t.equal(run([]).queuePolicy, 'block', 'the guarantee by default')
  t.equal(run(['--queue-policy', 'drop-oldest']).queuePolicy, 'drop-oldest')
  t.equal(run(['--queue-policy', 'reject']).queuePolicy, 'reject')
  t.throws(() => run(['--queue-policy', 'drop']), /expected one of block, drop-oldest, reject/, 'a bad policy names the choices')
  const c = run(['--max-queued-bytes', '4096', '--stall-timeout', '0', '--max-stored-messages', '10'])
  t.same(c.limits, { maxQueuedBytes: 4096, stallTimeout: 0, maxStoredMessages: 10 })
})

t.test('option table is consistent', async t => {
  const flags = new Set<string>()
  for (const o of OPTIONS) {
    t.notOk(flags.has(o.flag), `--${o.flag} unique`)
    flags.add(o.flag)
    t.equal(BY_FLAG.get(o.flag), o)
  }
  t.equal(coerce(OPTIONS.find(o => o.key === 'port')!, 5, 'x'), 5)
  t.equal(finalize({}, '/a').store.kind, 'level')
})

t.test('--cluster: a node id that survives restarts is required; --cluster-dead-after', async t => {
  try {
    run(['--cluster', '--store', 'redis://h'])
    t.fail('expected an error')
  } catch (err) {
    t.ok(isAppError(err) && err.option === 'nodeId' && /--node-id/.test(err.message) && /--data-dir/.test(err.message), 'the message names --node-id (and --data-dir)')
  }
  const c = run(['--cluster', '--store', 'redis://h', '--node-id', 'n1'])
  t.equal(c.nodeId, 'n1')
  t.equal(c.nodeIdDir, undefined, 'an explicit id needs no directory')
  t.equal(c.clusterDeadAfter, 3000, 'detection time by default')
  const d = run(['--cluster', '--store', 'redis://h', '--data-dir', 'nodes/a', '--cluster-dead-after', '1500'], { })
  t.equal(d.nodeIdDir, '/work/nodes/a', 'the id is kept in --data-dir')
  t.equal(d.clusterDeadAfter, 1500)
  t.equal(run(['--cluster', '--store', 'redis://h', '--node-id', 'n1'], { CULEX_CLUSTER_DEAD_AFTER: '800' }).clusterDeadAfter, 800, 'env var')
  t.equal(run([]).nodeIdDir, undefined, 'not without --cluster')
  try {
    run(['--cluster', '--store', 'redis://h', '--node-id', 'n1', '--cluster-dead-after', '99'])
    t.fail('expected an error')
  } catch (err) {
    t.ok(isAppError(err) && /--cluster-dead-after/.test(err.message), `a bad detection time names the flag: ${(err as Error).message}`)
  }
})
