import { SetMetadata } from '@nestjs/common';
import type { Role } from './api-keys.js';

export const ALLOW_METADATA = 'service-kit:allow';

/** Who may call a route: `public` (no credential) or any of the roles. */
export type Access = Role | 'public';

/**
 * Who may call a route or every route of a controller (the route's own decorator wins). A route
 * with no `@Allow` is refused to everyone: forgetting it closes a route rather than opening it.
 *
 * @example
 * @Allow('customer', 'operator')
 * @Get(':id') get(@Param('id') id: string, @Caller() caller: Principal) { ... }
 */
export const Allow = (...access: Access[]) => SetMetadata(ALLOW_METADATA, access);
