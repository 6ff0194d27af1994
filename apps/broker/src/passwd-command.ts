/**
 * `culex passwd`: create and update Mosquitto password files, with mosquitto_passwd's
 * arguments:
 *
 * ```
 * culex passwd [-H sha512-pbkdf2|sha512] [-c | -D] <file> <username>      (prompts)
 * culex passwd [-H sha512-pbkdf2|sha512] [-c] -b <file> <username> <password>
 * culex passwd -U <file>                                                  (hash a plain-text file)
 * ```
 *
 * The file is rewritten whole (same line order; mode 0600 when created). I/O is injected so
 * the command is testable without a terminal.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { AppError } from './errors.ts'
import { hashPassword, parseHash, parsePasswordFile, formatPasswordFile, type HashAlgorithm, type PasswordEntry } from './passwd.ts'

/** What `culex passwd` needs from the outside world. */
export interface PasswdIo {
  readFile: (path: string) => string
  /** `create` is true when the file is new (written with mode 0600). */
  writeFile: (path: string, text: string, create: boolean) => void
  exists: (path: string) => boolean
  /** Ask for a password without echo; rejects when there is no terminal. */
  prompt: (question: string) => Promise<string>
  out: (line: string) => void
}

/** Real file system and terminal. */
export function defaultPasswdIo (): PasswdIo {
  return {
    readFile: p => readFileSync(p, 'utf8'),
    writeFile: (p, text, create) => writeFileSync(p, text, create ? { mode: 0o600 } : {}),
    exists: p => existsSync(p),
    prompt: promptHidden,
    out: line => { process.stdout.write(line + '\n') }
  }
}

async function promptHidden (question: string): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) {
    throw new AppError('CULEX_ERR_USAGE', 'culex passwd: expected a terminal to read the password from, got none (use -b to pass it as an argument)')
  }
  // raw mode (no echo) before the prompt: a password typed as soon as the prompt shows is never echoed
  stdin.setRawMode(true)
  process.stdout.write(question)
  stdin.resume()
  stdin.setEncoding('utf8')
  return await new Promise((resolve, reject) => {
    let value = ''
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') { done(); resolve(value); return }
        if (ch === '\u0003') { done(); reject(new AppError('CULEX_ERR_USAGE', 'culex passwd: interrupted')); return }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    const done = (): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stdout.write('\n')
    }
    stdin.on('data', onData)
  })
}

const USAGE = 'usage: culex passwd [-H sha512-pbkdf2|sha512] [-c | -D] [-b] <file> <username> [password] | culex passwd -U <file>'

const usage = (why: string): AppError => new AppError('CULEX_ERR_USAGE', `culex passwd: ${why}\n${USAGE}`)

/**
 * Run `culex passwd` with its arguments (after `passwd`).
 *
 * @throws AppError CULEX_ERR_USAGE, CULEX_ERR_PASSWORD_FILE
 */
export async function runPasswd (args: readonly string[], io: PasswdIo): Promise<void> {
  let create = false
  let del = false
  let batch = false
  let upgrade = false
  let algorithm: HashAlgorithm = 'sha512-pbkdf2'
  const rest: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (a === '-c') create = true
    else if (a === '-D') del = true
    else if (a === '-b') batch = true
    else if (a === '-U') upgrade = true
    else if (a === '-H') {
      const v = args[++i]
      if (v !== 'sha512-pbkdf2' && v !== 'sha512') throw usage(`option -H: expected sha512-pbkdf2 or sha512, got ${JSON.stringify(v ?? '')}`)
      algorithm = v
    } else if (a.startsWith('-') && a.length > 1) throw usage(`unknown option ${JSON.stringify(a)}`)
    else rest.push(a)
  }
  if (create && del) throw usage('-c and -D cannot be used together')
  if (upgrade) {
    if (create || del || batch || rest.length !== 1) throw usage('-U takes exactly one file and no other option')
    const file = rest[0] as string
    const entries = parsePasswordFile(readOrFail(io, file), file, false)
    // Lines already hashed are kept; only plain-text passwords are hashed.
    const upgraded = entries.map(e => parseHash(e.hash) === null ? { username: e.username, hash: hashPassword(e.hash, { algorithm }) } : e)
    io.writeFile(file, formatPasswordFile(upgraded), false)
    return
  }
  const expected = batch ? 3 : 2
  if (del && rest.length !== 2) throw usage('-D takes a file and a username')
  if (!del && rest.length !== expected) throw usage(batch ? '-b takes a file, a username and a password' : 'expected a file and a username')
  const [file, username] = rest as [string, string]
  if (username.includes(':')) throw usage(`username: expected no ":" (it separates username and hash), got ${JSON.stringify(username)}`)
  if (username === '') throw usage('username: expected a non-empty name')

  let entries: PasswordEntry[] = []
  if (!create) {
    if (!io.exists(file)) throw new AppError('CULEX_ERR_PASSWORD_FILE', `password file ${file}: expected an existing file, got none (use -c to create it)`)
    entries = parsePasswordFile(readOrFail(io, file), file)
  }
  if (del) {
    const before = entries.length
    entries = entries.filter(e => e.username !== username)
    if (entries.length === before) throw new AppError('CULEX_ERR_PASSWORD_FILE', `password file ${file}: expected user ${JSON.stringify(username)} to exist, got no such user`)
    io.writeFile(file, formatPasswordFile(entries), false)
    return
  }
  let password: string
  if (batch) {
    password = rest[2] as string
  } else {
    password = await io.prompt('Password: ')
    const again = await io.prompt('Reenter password: ')
    if (again !== password) throw new AppError('CULEX_ERR_USAGE', 'culex passwd: passwords do not match')
  }
  const hash = hashPassword(password, { algorithm })
  const idx = entries.findIndex(e => e.username === username)
  if (idx === -1) entries.push({ username, hash })
  else entries[idx] = { username, hash }
  io.writeFile(file, formatPasswordFile(entries), create)
}

function readOrFail (io: PasswdIo, file: string): string {
  try {
    return io.readFile(file)
  } catch (err) {
    throw new AppError('CULEX_ERR_PASSWORD_FILE', `password file ${file}: expected a readable file, got ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
}
