/*
 * The script of cache_remap() (cache.h), and nothing else. cache_ops.c
 * builds its arguments next to the other operations', as it needs that
 * file's key names and argument checks.
 *
 * KEYS: uidvalidity, devices, hidden_all. ARGV: key prefix
 * "popgate:{<account>}:", old uidvalidity, new uidvalidity, new uidnext,
 * then the n new uids (strictly ascending), their n fingerprints, their n
 * internaldates. Returns 0 done, 2 stored uidvalidity differs.
 *
 * first[fp] is the index of the first message with fingerprint fp,
 * after[i] the next message with the same fingerprint as message i, and
 * maxd[i] the latest internaldate among messages 1..i (non-decreasing, so
 * a binary search finds the lowest uid at or after first_seen). The old
 * uids of a hidden hash do not matter: the k entries with fingerprint fp
 * become the first k messages with fp (HVALS; cur[fp] walks the chain).
 * The hidden:<device> names are built here from the devices hash, the way
 * cache_key() builds them. Every key is read, and so type-checked, before
 * the first write: an error never leaves half of it (Redis does not roll
 * back a failing script). HSET goes in chunks because Lua's unpack() is
 * limited to a few thousand values; UNLINK frees big old hashes off the
 * main thread.
 */

#include "cache_remap.h"

const char cache_lua_remap[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 2 end\n"
	"local argv, tonumber = ARGV, tonumber\n"
	"local n = (#argv - 4) / 3\n"
	"local first, after, last, maxd, top = {}, {}, {}, {}, -1\n"
	"for i = 1, n do\n"
	"  local fp, t = argv[4 + n + i], tonumber(argv[4 + 2 * n + i])\n"
	"  if first[fp] then after[last[fp]] = i else first[fp] = i end\n"
	"  last[fp] = i\n"
	"  if t > top then top = t end\n"
	"  maxd[i] = top\n"
	"end\n"
	"local function remap(key)\n"
	"  local fps, cur, out, k = redis.call('HVALS', key), {}, {}, 0\n"
	"  for j = 1, #fps do\n"
	"    local fp = fps[j]\n"
	"    local i = cur[fp]\n"
	"    if i == nil then i = first[fp] end\n"
	"    if i then\n"
	"      out[k + 1], out[k + 2], k = argv[4 + i], fp, k + 2\n"
	"      cur[fp] = after[i] or false\n"
	"    end\n"
	"  end\n"
	"  return out\n"
	"end\n"
	"local keys, sets, devs = {KEYS[3]}, {}, {}\n"
	"local d = redis.call('HGETALL', KEYS[2])\n"
	"for i = 1, #d, 2 do\n"
	"  keys[#keys + 1] = argv[1] .. 'hidden:' .. d[i]\n"
	"  local fu, seen = string.match(d[i + 1], '^(%d+) (%d+)$')\n"
	"  if fu and tonumber(fu) > 1 then\n"
	"    local lo, hi, t = 1, n + 1, tonumber(seen)\n"
	"    while lo < hi do\n"
	"      local mid = math.floor((lo + hi) / 2)\n"
	"      if maxd[mid] >= t then hi = mid else lo = mid + 1 end\n"
	"    end\n"
	"    devs[#devs + 1] = d[i]\n"
	"    devs[#devs + 1] = (lo <= n and argv[4 + lo] or argv[4]) .. ' ' .. seen\n"
	"  end\n"
	"end\n"
	"for i, key in ipairs(keys) do sets[i] = remap(key) end\n"
	"local function hset(key, args)\n"
	"  for i = 1, #args, 1000 do\n"
	"    redis.call('HSET', key, unpack(args, i, math.min(i + 999, #args)))\n"
	"  end\n"
	"end\n"
	"for i, key in ipairs(keys) do\n"
	"  redis.call('UNLINK', key)\n"
	"  hset(key, sets[i])\n"
	"end\n"
	"hset(KEYS[2], devs)\n"
	"redis.call('SET', KEYS[1], ARGV[3])\n"
	"return 0\n";
