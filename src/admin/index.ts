/** The admin web UI and its endpoints. */
export { AdminHandler, type AdminOptions } from './handler.js';
export { LoginLimiter, type LoginLimiterOptions } from './login-limiter.js';
export { ChannelTails, type TailSource } from './tail.js';
export { issueAdminToken, verifyAdminToken, ADMIN_TOKEN_MAX_AGE_MS } from './token.js';
