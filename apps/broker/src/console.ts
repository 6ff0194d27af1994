/**
 * The web console (placeholder until the bundled console lands): nothing is served.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

/** The console's request handler: true when it answered. */
export function createConsoleHandler (): ((req: IncomingMessage, res: ServerResponse, pathname: string) => boolean) | undefined {
  return undefined
}
