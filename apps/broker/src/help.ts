/**
 * The `--help` text, generated from the option table so it always lists every option with
 * its environment variable and default.
 */
import { OPTIONS, envName } from './options.ts'

/** The full usage text of `culex`. */
export function helpText (): string {
  const lines = [
    'Usage: culex [options]            run the MQTT broker',
    '       culex passwd [-H sha512-pbkdf2|sha512] [-c | -D] [-b] <file> <username> [password]',
    '       culex passwd -U <file>',
    '',
    'Options (flag, environment variable, default):'
  ]
  for (const o of OPTIONS) {
    const flag = (o.short !== undefined ? `-${o.short}, ` : '    ') + `--${o.flag}` + (o.kind === 'bool' ? '' : ' <value>')
    lines.push(`  ${flag.padEnd(32)} ${o.description}`)
    lines.push(`  ${''.padEnd(32)} env ${envName(o)}, default ${o.defaultText}`)
  }
  lines.push(`  ${'-h, --help'.padEnd(32)} Show this help.`)
  lines.push(`  ${'    --version'.padEnd(32)} Print the version.`)
  lines.push('', 'Boolean flags also take --flag=false and --no-flag. Precedence: flags > env > config file > defaults.')
  return lines.join('\n') + '\n'
}
