// The culex web console: preact + htm for the views, uPlot for the live charts. Bundled at
// build time into dist/console (no CDN). It talks to the same listener's JSON admin API and
// REST routes with the credentials given at login (kept in sessionStorage for this tab).
import { h, render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import htm from 'htm'
import UPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import './style.css'

const html = htm.bind(h)
const KEY = 'culex-console-auth'
const HISTORY = 120 // points per chart (one per second)

function authHeader () {
  return sessionStorage.getItem(KEY)
}

async function api (path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: { ...(opts.headers ?? {}), authorization: authHeader() ?? '' } })
  if (res.status === 401) throw Object.assign(new Error('wrong credentials'), { status: 401 })
  return res
}

async function json (path) {
  const res = await api(path)
  if (!res.ok) throw new Error(`${path}: ${res.status} ${(await res.json().catch(() => ({}))).error ?? ''}`)
  return res.json()
}

function usePoll (fn, ms, deps = []) {
  useEffect(() => {
    let stopped = false
    let timer
    const tick = async () => {
      try { await fn() } catch { /* shown by the caller */ }
      if (!stopped) timer = setTimeout(tick, ms)
    }
    tick()
    return () => { stopped = true; clearTimeout(timer) }
  }, deps)
}

function Login ({ onLogin }) {
  const [error, setError] = useState('')
  const submit = async (e) => {
    e.preventDefault()
    const f = e.target
    const token = f.token.value.trim()
    const header = token !== '' ? `Bearer ${token}` : 'Basic ' + btoa(unescape(encodeURIComponent(`${f.user.value}:${f.password.value}`)))
    sessionStorage.setItem(KEY, header)
    try {
      await json('api/overview')
      onLogin()
    } catch (err) {
      sessionStorage.removeItem(KEY)
      setError(err.status === 401 ? 'Wrong credentials.' : `Not allowed: ${err.message}`)
    }
  }
  return html`<form class="login" onSubmit=${submit}>
    <h1>culex console</h1>
    <input id="login-user" name="user" placeholder="user (password file)" autocomplete="username" />
    <input id="login-password" name="password" type="password" placeholder="password" autocomplete="current-password" />
    <input id="login-token" name="token" type="password" placeholder="or the --http-token" />
    <button id="login-submit" type="submit">Log in</button>
    <div class="error" id="login-error">${error}</div>
  </form>`
}

function Chart ({ title, series, data }) {
  const ref = useRef(null)
  const plot = useRef(null)
  useEffect(() => {
    const opts = {
      title,
      width: Math.max(300, ref.current.clientWidth - 10),
      height: 180,
      series: [{}, ...series.map((label, i) => ({ label, stroke: ['#1f77b4', '#d62728', '#2ca02c'][i], width: 1.5 }))],
      axes: [{}, { size: 60 }]
    }
    plot.current = new UPlot(opts, data, ref.current)
    return () => plot.current.destroy()
  }, [])
  useEffect(() => { plot.current?.setData(data) }, [data])
  return html`<div ref=${ref}></div>`
}

function Overview ({ overview, history }) {
  if (overview === null) return html`<section class="wide"><h2>Overview</h2>loading…</section>`
  const m = overview.metrics
  const up = Math.floor(m.uptimeSeconds)
  return html`<section class="wide" id="overview">
    <h2>Overview <span class="muted">node ${overview.nodeId}</span></h2>
    <div class="stats">
      <div class="stat"><b>${Math.floor(up / 3600)}h ${Math.floor(up / 60) % 60}m ${up % 60}s</b>uptime</div>
      <div class="stat"><b id="stat-connected">${m.connections.connected}</b>clients connected</div>
      <div class="stat"><b>${m.sessions.offline}</b>offline sessions</div>
      <div class="stat"><b>${m.subscriptions}</b>subscriptions</div>
      <div class="stat"><b>${overview.retained}</b>retained</div>
      <div class="stat"><b>${m.dropped.total}</b>dropped</div>
      <div class="stat"><b>${m.auth.failures}</b>auth failures</div>
    </div>
    <div style="display:grid;grid-template-columns:1fr 1fr;gap:1em">
      <${Chart} title="messages / s" series=${['in', 'out']} data=${[history.t, history.in, history.out]} />
      <${Chart} title="clients connected" series=${['connected']} data=${[history.t, history.conn]} />
    </div>
  </section>`
}

function Clients ({ onError }) {
  const [search, setSearch] = useState('')
  const [list, setList] = useState({ total: 0, sessions: [] })
  const [selected, setSelected] = useState(null)
  const [detail, setDetail] = useState(null)
  usePoll(async () => {
    try {
      setList(await json(`api/clients?limit=200&search=${encodeURIComponent(search)}`))
      if (selected !== null) setDetail(await json(`api/clients/${encodeURIComponent(selected)}`).catch(() => null))
    } catch (err) { onError(err) }
  }, 1000, [search, selected])
  const disconnect = async (e, id) => {
    e.stopPropagation()
    await api(`api/clients/${encodeURIComponent(id)}/disconnect`, { method: 'POST' })
  }
  return html`<section class="wide" id="clients">
    <h2>Clients and sessions <span class="muted">${list.total}</span></h2>
    <input id="client-search" placeholder="search client id or user" value=${search} onInput=${(e) => setSearch(e.target.value)} />
    <table>
      <thead><tr><th>client id</th><th>user</th><th>remote</th><th>transport</th><th>MQTT</th><th>subs</th><th>queued</th><th>inflight</th><th>state</th><th></th></tr></thead>
      <tbody>${list.sessions.map((s) => html`<tr key=${s.clientId} data-client-id=${s.clientId} class=${s.clientId === selected ? 'selected' : ''} onClick=${() => setSelected(s.clientId)}>
        <td>${s.clientId}</td><td>${s.username ?? ''}</td><td>${s.remoteAddress ?? ''}</td><td>${s.transport ?? ''}</td>
        <td>${({ 3: '3.1', 4: '3.1.1', 5: '5.0' })[s.protocolVersion]}</td><td>${s.subscriptionCount}</td><td>${s.queued}</td><td>${s.inflight}</td>
        <td>${s.connected ? 'online' : 'offline'}</td>
        <td>${s.connected ? html`<button class="disconnect" onClick=${(e) => disconnect(e, s.clientId)}>Disconnect</button>` : ''}</td>
      </tr>`)}</tbody>
    </table>
    ${detail !== null && html`<div id="client-detail"><h2>${detail.clientId}</h2>
      <div class="muted">keepalive ${detail.keepalive ?? '-'} s · session expiry ${detail.expiryInterval} s · queued ${detail.queued} · inflight ${detail.inflight}</div>
      <table><thead><tr><th>subscription</th><th>QoS</th><th>no local</th><th>retain as published</th></tr></thead>
      <tbody>${detail.subscriptions.map((s) => html`<tr key=${s.topic}><td>${s.topic}</td><td>${s.qos}</td><td>${s.nl ? 'yes' : ''}</td><td>${s.rap ? 'yes' : ''}</td></tr>`)}</tbody></table>
    </div>`}
  </section>`
}

function Retained ({ id, title, initial, onError }) {
  const [filter, setFilter] = useState(initial)
  const [data, setData] = useState({ total: 0, retained: [] })
  usePoll(async () => {
    try { setData(await json(`api/retained?limit=500&filter=${encodeURIComponent(filter || '#')}`)) } catch (err) { onError(err) }
  }, 3000, [filter])
  return html`<section id=${id}>
    <h2>${title} <span class="muted">${data.total}</span></h2>
    <input placeholder="filter" value=${filter} onChange=${(e) => setFilter(e.target.value)} />
    <table><thead><tr><th>topic</th><th>value</th><th>QoS</th><th>bytes</th></tr></thead>
    <tbody>${data.retained.map((r) => html`<tr key=${r.topic}><td title=${r.topic}>${'\u00a0'.repeat(2 * (r.topic.split('/').length - 1))}${r.topic}</td>
      <td>${r.preview.utf8 ?? `base64 ${r.preview.base64}`}</td><td>${r.qos}</td><td>${r.bytes}</td></tr>`)}</tbody></table>
  </section>`
}

function Publish () {
  const [status, setStatus] = useState(null)
  const submit = async (e) => {
    e.preventDefault()
    const f = e.target
    const topic = f.topic.value.split('/').map(encodeURIComponent).join('/')
    const res = await api(`resources/${topic}?qos=${f.qos.value}`, { method: f.retain.checked ? 'PUT' : 'POST', body: f.payload.value, headers: { 'content-type': 'text/plain; charset=utf-8' } })
    setStatus(res.ok ? { ok: true, text: `published to ${f.topic.value}` } : { ok: false, text: `${res.status}: ${(await res.json().catch(() => ({}))).error ?? ''}` })
  }
  return html`<section id="publish">
    <h2>Publish</h2>
    <form class="row" onSubmit=${submit}>
      <input id="publish-topic" name="topic" placeholder="topic" required />
      <input id="publish-payload" name="payload" placeholder="payload" />
      <select id="publish-qos" name="qos"><option>0</option><option>1</option><option>2</option></select>
      <label><input id="publish-retain" name="retain" type="checkbox" /> retain</label>
      <button id="publish-submit" type="submit">Publish</button>
    </form>
    <div id="publish-status" class=${status?.ok ? 'ok' : 'error'}>${status?.text ?? ''}</div>
  </section>`
}

function Console ({ onLogout }) {
  const [overview, setOverview] = useState(null)
  const [error, setError] = useState('')
  const last = useRef(null)
  const [history, setHistory] = useState({ t: [], in: [], out: [], conn: [] })
  const onError = (err) => { if (err.status === 401) onLogout(); else setError(err.message) }
  usePoll(async () => {
    try {
      const o = await json('api/overview')
      setOverview(o)
      setError('')
      const now = Date.now() / 1000
      const sum = (a) => a[0] + a[1] + a[2]
      const inN = sum(o.metrics.publish.received)
      const outN = sum(o.metrics.publish.sent)
      const prev = last.current
      last.current = { now, inN, outN }
      if (prev === null) return
      const dt = Math.max(0.001, now - prev.now)
      setHistory((h) => {
        const push = (arr, v) => [...arr, v].slice(-HISTORY)
        return { t: push(h.t, now), in: push(h.in, (inN - prev.inN) / dt), out: push(h.out, (outN - prev.outN) / dt), conn: push(h.conn, o.metrics.connections.connected) }
      })
    } catch (err) { onError(err) }
  }, 1000)
  return html`<div>
    <header><h1>culex</h1><span class="spacer"></span><span class="error">${error}</span>
      <button id="logout" onClick=${() => { sessionStorage.removeItem(KEY); onLogout() }}>Log out</button></header>
    <main>
      <${Overview} overview=${overview} history=${history} />
      <${Clients} onError=${onError} />
      <${Publish} />
      <${Retained} id="topics" title="Topics (retained)" initial="#" onError=${onError} />
      <${Retained} id="sys" title="$SYS" initial="$SYS/#" onError=${onError} />
    </main>
  </div>`
}

function App () {
  const [loggedIn, setLoggedIn] = useState(authHeader() !== null)
  return loggedIn ? html`<${Console} onLogout=${() => setLoggedIn(false)} />` : html`<${Login} onLogin=${() => setLoggedIn(true)} />`
}

render(html`<${App} />`, document.getElementById('app'))
