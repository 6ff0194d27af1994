/**
 * TLS material made with `openssl` at test time: a self-signed server certificate for
 * localhost / 127.0.0.1 ({@link makeCert}, once per process), or a throwaway CA with a server
 * and a client certificate ({@link makePki}). Nothing is committed to the repository.
 * Keys are ECDSA P-256: openssl makes one in ~5 ms, an RSA 2048 key takes 0.1-0.6 s (a
 * PKI has three), and the tests check TLS behaviour, not key types.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']

let certDir: string | undefined

/** A self-signed certificate (CN=localhost, SAN localhost and 127.0.0.1), made once per process. */
export function makeCert (): { dir: string, cert: string, key: string } {
  if (certDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'culex-test-cert-'))
    execFileSync('openssl', [
      'req', '-x509', ...NEW_KEY, '-nodes', '-days', '2',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'
    ], { stdio: 'ignore' })
    certDir = dir
    process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
  }
  return { dir: certDir, cert: join(certDir, 'cert.pem'), key: join(certDir, 'key.pem') }
}

export interface Pki {
  ca: string
  cert: string
  key: string
  clientCert: string
  clientKey: string
  caPem: Buffer
  clientCertPem: Buffer
  clientKeyPem: Buffer
}

/** A throwaway CA in `dir`, a server certificate for localhost/127.0.0.1/::1 and a client certificate. */
export function makePki (dir: string): Pki {
  const o = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
  o('req', '-x509', ...NEW_KEY, '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=culex test CA')
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n')
  o('req', ...NEW_KEY, '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  o('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext')
  o('req', ...NEW_KEY, '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=culex test client')
  o('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2')
  const p = (f: string): string => join(dir, f)
  return {
    ca: p('ca.pem'),
    cert: p('server.pem'),
    key: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    caPem: readFileSync(p('ca.pem')),
    clientCertPem: readFileSync(p('client.pem')),
    clientKeyPem: readFileSync(p('client.key'))
  }
}
