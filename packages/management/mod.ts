/**
 * @serval/management (being built).
 *
 * @module
 */

export {};
