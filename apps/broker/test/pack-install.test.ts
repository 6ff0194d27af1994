// The published form of the `culex` command: pack the tarballs of @culex/cli and of every
// @culex package it needs, install them with `npm install -g --prefix <tmp>` (as a user
// would, minus the registry for our own packages; third-party dependencies come from npm's
// cache, or its registry when the cache lacks their metadata), run the installed `culex`, and do a publish/subscribe round trip through it with
// Debian's mosquitto_pub / mosquitto_sub. This catches what the workspace hides: a file
// missing from `files`, a dependency that is only hoisted in the monorepo, a broken bin.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startCulex, tempDir, hasBinary, cleanEnv } from './helpers/culex.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface Manifest {
  name: string
  version: string
  private?: boolean
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

/** Every workspace package by name. */
function workspaces (): Map<string, Manifest> {
  const out = new Map<string, Manifest>()
  for (const group of ['packages', 'apps']) {
    for (const dir of readdirSync(join(ROOT, group))) {
      const pkg = JSON.parse(readFileSync(join(ROOT, group, dir, 'package.json'), 'utf8')) as Manifest
      out.set(pkg.name, pkg)
    }
  }
  return out
}

/** @culex/cli and the workspace packages it needs at run time (dependencies and peers, transitively). */
function closure (all: Map<string, Manifest>): string[] {
  const seen = new Set<string>()
  const visit = (name: string): void => {
    const pkg = all.get(name)
    if (pkg === undefined || seen.has(name)) return
    seen.add(name)
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies })) visit(dep)
  }
  visit('@culex/cli')
  return [...seen]
}

/** npm's own settings only: no npm_config_* left over from the `npm test` that runs us. */
function npmEnv (): NodeJS.ProcessEnv {
  const env = cleanEnv()
  for (const k of Object.keys(env)) {
    if (k.startsWith('npm_') && k !== 'npm_config_cache' && k !== 'npm_config_userconfig') delete env[k]
  }
  return env
}

/** Run a command to its end; `stderr` also says how it failed (exit code, signal, timeout). */
function run (cmd: string, args: string[], opts: { cwd?: string, timeout?: number } = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise(resolve => {
    execFile(cmd, args, { cwd: opts.cwd ?? ROOT, env: npmEnv(), timeout: opts.timeout ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err === null) resolve({ code: 0, stdout, stderr })
      else resolve({ code: typeof err.code === 'number' ? err.code : 1, stdout, stderr: `${stderr}\n${err.message}${err.killed ? ' (killed: timeout)' : ''}` })
    })
  })
}

const all = workspaces()
const names = closure(all)

t.test('the packed @culex/cli installs with npm install -g and runs', async t => {
  t.ok(names.includes('@culex/broker') && names.includes('@culex/store-level'), `packs ${names.join(', ')}`)
  for (const n of names) t.not(all.get(n)?.private, true, `${n} is publishable (not private)`)

  const dir = tempDir(t, 'culex-pack-')
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir, ...names.flatMap(n => ['-w', n])])
  t.equal(packed.code, 0, `npm pack exits 0 ${packed.stderr}`)
  const tarballs = JSON.parse(packed.stdout) as Array<{ name: string, filename: string, files: Array<{ path: string }> }>
  t.same(tarballs.map(p => p.name).sort(), [...names].sort(), 'one tarball per package')
  for (const p of tarballs) {
    t.ok(p.files.some(f => f.path === 'LICENSE'), `${p.name} ships its LICENSE`)
    t.notOk(p.files.some(f => f.path.endsWith('.map')), `${p.name} ships no source maps`)
  }
  const cli = tarballs.find(p => p.name === '@culex/cli')
  t.ok(cli?.files.some(f => f.path === 'bin/culex.js'), 'the CLI tarball has its bin')
  t.ok(cli?.files.some(f => f.path === 'dist/cli.js'), 'the CLI tarball has dist/cli.js')

  // What `npm publish` would say: nothing but the missing login (no auto-corrected package.json).
  const dry = await run('npm', ['publish', '--dry-run', '--offline', ...names.flatMap(n => ['-w', n])])
  t.equal(dry.code, 0, 'npm publish --dry-run exits 0')
  t.same(dry.stderr.split('\n').filter(l => l.startsWith('npm warn') && !l.includes('requires you to be logged in')), [],
    'npm publish --dry-run warns about nothing but the login')

  // Offline first: our packages are the tarballs, the others come from npm's cache. A cache
  // filled by `npm ci` has the tarballs but not the registry metadata a range needs
  // (ENOTCACHED): then npm may ask the registry for that metadata (the tarballs still come
  // from the cache).
  const prefix = join(dir, 'prefix')
  const install = (mode: string): ReturnType<typeof run> => run('npm', ['install', '-g', '--prefix', prefix, mode, '--no-audit', '--no-fund',
    '--allow-scripts=classic-level', ...tarballs.map(p => join(dir, p.filename))], { cwd: dir, timeout: 70_000 })
  let installed = await install('--offline')
  if (installed.code !== 0 && installed.stderr.includes('ENOTCACHED')) {
    t.comment('npm cache lacks registry metadata for a dependency: installing with --prefer-offline')
    installed = await install('--prefer-offline')
  }
  t.equal(installed.code, 0, `npm install -g exits 0 ${installed.stderr} ${installed.stdout}`)
  t.notMatch(installed.stderr, /EBADENGINE|ERESOLVE|peer dep/i, 'no engine or peer dependency warning')

  const bin = join(prefix, 'bin', 'culex')
  const version = await run(bin, ['--version'], { cwd: dir, timeout: 10_000 })
  t.equal(version.code, 0, 'culex --version exits 0')
  t.equal(version.stdout, `culex ${all.get('@culex/cli')?.version}\n`, 'culex --version prints the package version')

  const mosquitto = hasBinary('mosquitto_pub') && hasBinary('mosquitto_sub')
  t.test('publish/subscribe round trip through the installed culex (LevelDB store)', {
    skip: mosquitto ? false : 'mosquitto_pub / mosquitto_sub (Debian mosquitto-clients) not installed'
  }, async t => {
    const data = join(dir, 'data')
    const culex = await startCulex(t, ['--store', 'level', '--data-dir', data], { command: bin, cwd: dir })
    const port = String(culex.ports.mqtt)

    const sub = (args: string[]): Promise<{ code: number, stdout: string }> =>
      run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-W', '20', ...args], { timeout: 30_000 })
    const pub = (args: string[]): Promise<{ code: number }> =>
      run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, ...args], { timeout: 10_000 })

    // A persistent session subscribes first and leaves (-E: exit once subscribed), so the
    // subscriber started next gets the messages whether they arrive before or after it
    // connects: no sleep, and the LevelDB store (a native module) is on the path.
    const session = ['-c', '-i', 'pack-sub', '-q', '2', '-t', 'pack/#']
    t.equal((await sub([...session, '-E'])).code, 0, 'mosquitto_sub subscribed a persistent session')
    const received = sub([...session, '-v', '-C', '2'])
    t.equal((await pub(['-q', '1', '-t', 'pack/one', '-m', 'hello'])).code, 0, 'mosquitto_pub QoS 1 exits 0')
    t.equal((await pub(['-q', '2', '-t', 'pack/two', '-m', 'world'])).code, 0, 'mosquitto_pub QoS 2 exits 0')
    const got = await received
    t.equal(got.code, 0, 'mosquitto_sub exits 0 after its two messages')
    t.equal(got.stdout, 'pack/one hello\npack/two world\n', 'both messages arrive, in order')

    t.equal((await pub(['-q', '1', '-r', '-t', 'pack/kept', '-m', 'retained'])).code, 0, 'retained publish exits 0')
    const retained = await sub(['-t', 'pack/kept', '-v', '-C', '1'])
    t.equal(retained.stdout, 'pack/kept retained\n', 'a new subscriber gets the retained message')
  })
})
