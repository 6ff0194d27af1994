// A culex plugin that adds an HTTP route and a listener of its own:
//
// - a TCP listener (`options.port`, default 0 = any free port; `options.host`, default
//   127.0.0.1) where each line `<topic> <payload>` is published into the broker at QoS 1
//   under `options.topicPrefix` (default `lines/`), answered `ok` once stored and routed,
//   or `error <reason>`;
// - GET /line-ingest/stats on the operator's HTTP listener (credentials required, like
//   /metrics) and GET /line-ingest/ping (public).
//
// Load it from the config file:
//
//   plugins:
//     - module: ./line-ingest.mjs
//       options: { port: 7000, topicPrefix: 'lines/' }
import net from 'node:net'

const MAX_LINE = 64 * 1024

export default function init ({ logger, options }) {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 0
  const prefix = options.topicPrefix ?? 'lines/'
  let published = 0
  let refused = 0

  const start = async (broker) => {
    const sockets = new Set()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      socket.setEncoding('utf8')
      let buf = ''
      socket.on('data', (chunk) => {
        buf += chunk
        if (buf.length > MAX_LINE && !buf.includes('\n')) {
          socket.end(`error line longer than ${MAX_LINE} bytes\n`)
          return
        }
        let nl
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl).replace(/\r$/, '')
          buf = buf.slice(nl + 1)
          const sp = line.indexOf(' ')
          if (sp <= 0) {
            refused++
            socket.write('error expected "<topic> <payload>"\n')
            continue
          }
          broker.publish({ topic: prefix + line.slice(0, sp), payload: line.slice(sp + 1), qos: 1 }).then(() => {
            published++
            socket.write('ok\n')
          }, (err) => {
            refused++
            socket.write(`error ${err.message}\n`)
          })
        }
      })
    })
    await new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, resolve)
    })
    const bound = server.address().port
    logger.info({ host, port: bound }, `line-ingest listening on ${host}:${bound}`)
    return {
      close: () => new Promise((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
        logger.info('line-ingest listener closed')
      })
    }
  }

  return {
    name: 'line-ingest',
    routes: [
      {
        method: 'GET',
        path: '/line-ingest/stats',
        handler (req, res, { identity }) {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ published, refused, askedBy: identity.username ?? null }))
        }
      },
      {
        method: 'GET',
        path: '/line-ingest/ping',
        public: true,
        handler (req, res) {
          res.writeHead(200, { 'content-type': 'text/plain' })
          res.end('pong\n')
        }
      }
    ],
    listeners: [start]
  }
}
