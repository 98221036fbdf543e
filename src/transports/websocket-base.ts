/**
 * What every bidirectional WebSocket transport answers the same way, as getters: one
 * transport object lives per connection, so constants take no fields.
 */
export abstract class BidiWebSocketTransport {
  get name(): string {
    return 'websocket';
  }
  get unidirectional(): boolean {
    return false;
  }
  get emulation(): boolean {
    return false;
  }
  get disconnectPush(): boolean {
    return false;
  }
}
