// What the demo page needs from npm, bundled into public/vendor.js by build.mjs.
export * as Y from "yjs";
export { WebsocketProvider } from "y-websocket";
