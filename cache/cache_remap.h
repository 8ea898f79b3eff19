#ifndef CACHE_REMAP_H
#define CACHE_REMAP_H

/*
 * The Lua script of cache_remap() (cache.h), in a file of its own for its
 * size; cache_ops.c builds its arguments next to the other operations'.
 * Its KEYS, ARGV and return values: cache_remap.c.
 */

extern const char cache_lua_remap[];

#endif
