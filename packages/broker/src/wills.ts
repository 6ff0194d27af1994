/**
 * `Wills`: Will Messages. A will is published when its connection ends without a normal
 * DISCONNECT: at once, or after its Will Delay Interval, or when its session ends if that
 * comes first [MQTT-3.1.3-9]; a reconnect before then cancels it. A will is authorized as a
 * publish of its client when it fires (authorizePublish), routed like any message, and
 * removed from the store (where it waits so that a crashed node's wills are published by the
 * next run, or by the survivor that adopts the dead node in a cluster: {@link Wills.adopt}).
 */
import type { PublishProperties, Will } from '@culex/packet'
import type { Clock, ClockTimer } from './clock.ts'
import type { Connection } from './connection.ts'
import type { Engine } from './engine.ts'
import { BrokerError } from './errors.ts'
import { Routed } from './routed.ts'
import type { Session } from './session.ts'
import type { WillRecord } from './store.ts'

/** A timer runs at most this long (~24.8 days): a longer delay re-arms. */
const TIMER_MAX = 2 ** 31 - 1

/** The will message of a stored will record. */
function willOf (w: WillRecord): Will {
  const will: Will = { topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain }
  if (w.properties !== undefined) will.properties = w.properties
  return will
}

/** The wills of one broker node. */
export class Wills {
  readonly #engine: Engine
  /** Timers of adopted delayed wills (a dead node's), cleared on close. */
  readonly #adopted = new Set<ClockTimer>()

  constructor (engine: Engine) {
    this.#engine = engine
  }

  get #clock (): Clock {
    return this.#engine.broker.clock
  }

  /**
   * Publish the wills left by an earlier run of this node: those connections died with it.
   * Taken from the store first when it can (`takeWill`): a node that adopted this one while
   * it was down may be publishing them too; one of the two gets each.
   */
  async restore (): Promise<void> {
    const engine = this.#engine
    const store = engine.broker.store
    for (let w of await store.willsOfNode(engine.broker.id)) {
      if (engine.sessions.connectionOf(w.clientId) !== undefined) continue
      if (store.takeWill !== undefined) {
        const taken = await store.takeWill(w.clientId, engine.broker.id)
        if (taken === null) continue
        w = taken
      }
      this.publish(null, willOf(w), w.clientId, store.takeWill === undefined)
    }
  }

  /**
   * Node `deadId` died (`downFor` ms ago) and this node won the claim on it: publish the wills
   * its connections left, each when its Will Delay Interval, capped by its session's expiry
   * [MQTT-3.1.3-9], has run from the node's death (`publishAt` when the store has one). Each
   * is read again just before it goes: a will whose client connected meanwhile (its record
   * now names another node, or is gone) is not published. Resolves once every will is
   * published or armed.
   */
  async adopt (deadId: string, downFor: number): Promise<void> {
    const store = this.#engine.broker.store
    const died = this.#clock.now() - Math.max(0, downFor)
    for (const w of await store.willsOfNode(deadId)) {
      let delay = (w.properties?.willDelayInterval ?? 0) * 1000
      // a session with expiry 0 (not stored) ends with its connection: the will goes at once
      if (delay > 0) delay = Math.min(delay, ((await store.getSession(w.clientId))?.expiryInterval ?? 0) * 1000)
      this.#adoptAt(w.clientId, deadId, w.publishAt ?? died + delay)
    }
  }

  #adoptAt (clientId: string, deadId: string, at: number): void {
    const wait = at - this.#clock.now()
    if (wait <= 0) {
      this.#publishAdopted(clientId, deadId)
      return
    }
    // a timer runs at most TIMER_MAX ms: a longer wait re-arms
    const timer = this.#clock.setTimeout(() => {
      this.#adopted.delete(timer)
      this.#adoptAt(clientId, deadId, at)
    }, Math.min(wait, TIMER_MAX))
    timer.unref()
    this.#adopted.add(timer)
  }

  #publishAdopted (clientId: string, deadId: string): void {
    const engine = this.#engine
    if (engine.closed || engine.sessions.connectionOf(clientId) !== undefined) return
    const store = engine.broker.store
    // atomic when the store can (takeWill): the dead node, restarted, may be publishing it too
    const taking = store.takeWill !== undefined
    ;(taking ? store.takeWill!(clientId, deadId) : store.getWill(clientId)).then((w) => {
      // the client connected meanwhile (here or elsewhere): its will is no longer the dead node's
      if (w === null || w.nodeId !== deadId || engine.closed) return
      this.publish(null, willOf(w), clientId, !taking)
    }, (err: unknown) => { engine.storeError('reading a dead node\'s will', err) })
  }

  /** Stop the timers of adopted wills (the broker is closing; they stay stored). */
  close (): void {
    for (const timer of this.#adopted) this.#clock.clearTimeout(timer)
    this.#adopted.clear()
  }

  /** `c` ended without a normal DISCONNECT: its will goes now, or is delayed on `s`. */
  onClose (c: Connection, s: Session): void {
    const will = c.takeWill()!
    const delay = will.properties?.willDelayInterval ?? 0
    if (delay === 0 || s.expiryInterval === 0 || this.#engine.closed) {
      this.publish(c, will)
      return
    }
    // delayed: published when the delay or the session ends, whichever comes first [MQTT-3.1.3-9]
    s.will = will
    this.#arm(s, c, this.#clock.now() + Math.min(delay, s.expiryInterval) * 1000)
  }

  // a timer runs at most TIMER_MAX ms (~24.8 days): a longer delay re-arms, like the session expiry
  #arm (s: Session, c: Connection, at: number): void {
    s.willTimer = this.#clock.setTimeout(() => {
      s.willTimer = null
      if (at - this.#clock.now() > 0) this.#arm(s, c, at)
      else this.fire(s, c)
    }, Math.max(0, Math.min(at - this.#clock.now(), TIMER_MAX)))
    s.willTimer.unref()
  }

  /** Publish the delayed will of `s` now (its delay or its session ended). */
  fire (s: Session, c: Connection | null): void {
    const will = s.will
    s.will = null
    if (s.willTimer !== null) this.#clock.clearTimeout(s.willTimer)
    s.willTimer = null
    if (will !== null) this.publish(c, will, s.clientId)
  }

  /** A reconnect cancels a delayed will [MQTT-3.1.3-9]. */
  cancel (s: Session): void {
    s.will = null
    if (s.willTimer !== null) this.#clock.clearTimeout(s.willTimer)
    s.willTimer = null
  }

  /**
   * Route a will as a message of its client (authorized again when `c` is known), then delete
   * its stored record unless `stored` is false (already taken from the store).
   */
  publish (c: Connection | null, will: Will, clientId = c?.id ?? '', stored = true): void {
    const engine = this.#engine
    const wp = will.properties
    let props: PublishProperties | undefined
    let expiresAt: number | undefined
    if (wp !== undefined) {
      props = {}
      if (wp.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = wp.payloadFormatIndicator
      if (wp.messageExpiryInterval !== undefined) {
        props.messageExpiryInterval = wp.messageExpiryInterval
        expiresAt = this.#clock.now() + wp.messageExpiryInterval * 1000
      }
      if (wp.contentType !== undefined) props.contentType = wp.contentType
      if (wp.responseTopic !== undefined) props.responseTopic = wp.responseTopic
      if (wp.correlationData !== undefined) props.correlationData = wp.correlationData
      if (wp.userProperties !== undefined) props.userProperties = wp.userProperties
    }
    const m = new Routed(will.topic, will.payload, will.qos, will.retain, props, expiresAt, clientId, true)
    const go = (): void => {
      const p = engine.dispatch(m, c)
      if (p !== null) p.catch((err: unknown) => { engine.broker.storeError('publishing a will', err) })
      if (stored) {
        engine.broker.store.deleteWill(clientId).catch((err: unknown) => { engine.broker.storeError('deleting a will', err) })
      }
    }
    const hook = engine.broker.hooks.authorizePublish
    if (hook === undefined || c === null) {
      go()
      return
    }
    Promise.resolve(hook(c, { cmd: 'publish', topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: false }))
      .then((ok) => { if (ok === true) go() }, (err: unknown) => { engine.broker.emitClientError(c, new BrokerError('BROKER_ERR_HOOK', `authorizePublish (will) failed: ${String(err)}`, { cause: err })) })
  }
}
