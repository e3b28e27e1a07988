// A ZeroMQ subscriber for the browser: ZWS 2.0 (RFC 45) over the browser's WebSocket. It
// speaks to a PUB or XPUB bound on ws:// (ours or libzmq's).
//
// ZWS 2.0 in brief: the WebSocket subprotocol names the mechanism; there is no ZMTP
// greeting; every ZMTP frame is one binary WebSocket message whose first byte holds the
// flags (0x01 MORE, 0x02 COMMAND) and the rest the frame's body; subscriptions are data
// messages (0x01 + topic to subscribe, 0x00 + topic to cancel), as libzmq's ws engine
// expects.
//
// Browsers refuse "ZWS2.0/NULL" as a subprotocol ("/" is not allowed in a WebSocket
// subprotocol token), so this client asks for the bare "ZWS2.0": security-wise NULL, with
// no handshake commands at all: each side's first message is its routing id (ours is
// empty), then messages flow. No socket type is exchanged, so the server cannot check it.
//
//   const sub = new ZwsSubscriber("ws://127.0.0.1:5556/", {
//     onmessage: (frames) => console.log(frames.map(ZwsSubscriber.text)),
//   });
//   sub.subscribe("weather");
"use strict";

class ZwsSubscriber {
  // url: the PUB's ws:// endpoint. handlers: onready(peer), onmessage(frames as
  // Uint8Arrays), onerror(text), onclose().
  constructor(url, handlers = {}) {
    this.handlers = handlers;
    this.ready = false;
    this.pending = []; // subscriptions asked for before the handshake completed
    this.parts = []; // frames of the multipart message being received
    this.greeted = false; // the peer's routing id (its first message) arrived
    this.ws = new WebSocket(url, ["ZWS2.0"]);
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => this.opened();
    this.ws.onmessage = (event) => this.received(event.data);
    this.ws.onerror = () => this.fail("WebSocket error");
    this.ws.onclose = () => this.handlers.onclose && this.handlers.onclose();
  }

  // Subscribes to messages whose first frame starts with `topic` (a string or bytes).
  subscribe(topic) {
    this.sendSubscription(1, topic);
  }

  // Cancels a subscription made with subscribe().
  unsubscribe(topic) {
    this.sendSubscription(0, topic);
  }

  close() {
    this.ws.close();
  }

  // A frame's bytes as UTF-8 text.
  static text(frame) {
    return new TextDecoder().decode(frame);
  }

  // ---- internals -----------------------------------------------------------------

  opened() {
    if (this.ws.protocol !== "ZWS2.0") {
      return this.fail(`the server chose ${JSON.stringify(this.ws.protocol)}, not ZWS2.0`);
    }
    // Our routing id (empty), then the subscriptions asked for so far.
    this.sendFrame(0x00, new Uint8Array(0));
    this.ready = true;
    for (const body of this.pending) this.sendFrame(0x00, body);
    this.pending = [];
  }

  sendSubscription(kind, topic) {
    const bytes = typeof topic === "string" ? new TextEncoder().encode(topic) : topic;
    const body = new Uint8Array(1 + bytes.length);
    body[0] = kind;
    body.set(bytes, 1);
    if (this.ready) {
      this.sendFrame(0x00, body);
    } else {
      this.pending.push(body);
    }
  }

  sendFrame(flags, body) {
    const message = new Uint8Array(1 + body.length);
    message[0] = flags;
    message.set(body, 1);
    this.ws.send(message);
  }

  received(data) {
    if (!(data instanceof ArrayBuffer)) {
      return this.fail("a text message: ZWS messages are binary");
    }
    const message = new Uint8Array(data);
    if (message.length === 0 || (message[0] & ~0x03) !== 0) {
      return this.fail("a malformed ZWS message");
    }
    const flags = message[0];
    const body = message.subarray(1);
    if (flags & 0x02) {
      return this.command(body);
    }
    if (!this.greeted) {
      // The peer's routing id.
      this.greeted = true;
      if (this.handlers.onready) this.handlers.onready({ "Routing-Id": ZwsSubscriber.text(body) });
      return;
    }
    this.parts.push(body);
    if (!(flags & 0x01)) {
      const frames = this.parts;
      this.parts = [];
      if (this.handlers.onmessage) this.handlers.onmessage(frames);
    }
  }

  command(body) {
    const length = body[0];
    if (body.length < 1 + length) return this.fail("a malformed command");
    const name = String.fromCharCode(...body.subarray(1, 1 + length));
    const data = body.subarray(1 + length);
    if (name === "ERROR") {
      this.fail(`the peer refused: ${ZwsSubscriber.text(data.subarray(1, 1 + data[0]))}`);
    } else if (name === "PING") {
      // PONG carries the PING's context (after its 2-byte TTL).
      const context = data.subarray(2);
      const pong = ZwsSubscriber.command("PONG");
      const reply = new Uint8Array(pong.length + context.length);
      reply.set(pong);
      reply.set(context, pong.length);
      this.sendFrame(0x02, reply);
    }
  }

  fail(text) {
    if (this.handlers.onerror) this.handlers.onerror(text);
    this.ws.close();
  }

  // A command's body: name length, name (its data follows).
  static command(name) {
    return new Uint8Array([name.length, ...new TextEncoder().encode(name)]);
  }
}
