export const DELIVERY_CONFIG = Symbol('DELIVERY_CONFIG');
