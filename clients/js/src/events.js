/** The async iterator of RoostClient.events(): bounded, and loud when it overflows. */

import { RoostError } from "./errors.js";

/**
 * An async iterator of `{name, data}` for the events named `name` (any if null). It holds at
 * most `maxQueued` unread events: one more ends it, and next() fails with code "overflow"
 * after the events already queued (a silent drop would hide lost events). It ends when the
 * client closes for good, or on `return()` (a `break` out of `for await`).
 *
 * @param {import("./roost.js").RoostClient} client
 * @param {string | null} name
 * @param {number} maxQueued
 */
export function eventIterator(client, name, maxQueued) {
  const queue = [];
  let waiter = null; // {resolve, reject} of a next() waiting for an event
  let failure = null;
  let done = false;
  const finish = () => {
    done = true;
    unsubscribe();
    unsubscribeClose();
    if (waiter) waiter.resolve({ value: undefined, done: true });
    waiter = null;
  };
  const unsubscribe = client.on("event", (eventName, data) => {
    if (done || (name !== null && eventName !== name)) return;
    if (waiter) {
      waiter.resolve({ value: { name: eventName, data }, done: false });
      waiter = null;
    } else if (queue.length >= maxQueued) {
      // The events read so far stay readable; then next() fails, and the iterator is done.
      failure = new RoostError("overflow", `over ${maxQueued} events not read from the iterator`);
      finish();
    } else {
      queue.push({ name: eventName, data });
    }
  });
  const unsubscribeClose = client.on("close", ({ willReconnect }) => willReconnect || finish());
  if (client.state === "closed") finish();
  return {
    next: () => {
      if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
      if (failure) {
        const error = failure;
        failure = null;
        return Promise.reject(error);
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      if (waiter) return Promise.reject(new TypeError("next() called again before the last one settled"));
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    return: () => {
      queue.length = 0;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
