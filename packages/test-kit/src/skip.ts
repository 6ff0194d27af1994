/**
 * Skips with a reason. A test that needs a program this machine does not have is reported as
 * a tap skip naming the program and the Debian package that provides it, never as a pass:
 *
 *   t.test('bridges to Mosquitto', { skip: missing('mosquitto') }, async (t) => { … })
 */
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

// Debian packages of the programs the tests use
const PACKAGES: Record<string, string> = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  mosquitto: 'mosquitto',
  mosquitto_pub: 'mosquitto-clients',
  mosquitto_sub: 'mosquitto-clients',
  mosquitto_passwd: 'mosquitto',
  openssl: 'openssl',
  haproxy: 'haproxy',
  promtool: 'prometheus',
  chromium: 'chromium',
  script: 'bsdutils',
  'systemd-analyze': 'systemd'
}

// daemons are installed in sbin, which is not on a normal user's PATH
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin']

/** The absolute path of the executable `name` (on PATH or in an sbin directory), or undefined. */
export function which (name: string): string | undefined {
  if (name.includes('/')) return executable(name) ? name : undefined
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN]
  for (const dir of dirs) {
    const p = join(dir, name)
    if (executable(p)) return p
  }
  return undefined
}

function executable (p: string): boolean {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * `false` when every program in `names` is installed, else the reason to skip: which are
 * missing and the Debian packages that provide them. Pass it as a test's `skip` option.
 */
export function missing (...names: string[]): string | false {
  const absent = names.filter((n) => which(n) === undefined)
  if (absent.length === 0) return false
  const pkgs = [...new Set(absent.map((n) => PACKAGES[n]).filter((p) => p !== undefined))]
  return `${absent.join(', ')} not installed${pkgs.length > 0 ? ` (Debian package${pkgs.length > 1 ? 's' : ''} ${pkgs.join(', ')})` : ''}`
}

/** `missing(...)` as a boolean, for code that only needs to know. */
export function hasBinary (name: string): boolean {
  return which(name) !== undefined
}
