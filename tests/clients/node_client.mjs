// A client nobody here wrote: Node's built-in WebSocket (undici; Node 20
// needs --experimental-websocket). Browsers cannot set headers, so the token
// goes in ?token= exactly as a browser page would send it. Prints TAP.
//
// usage: node --experimental-websocket node_client.mjs URL TOKEN_A TOKEN_B
const [url, tokenA, tokenB] = process.argv.slice(2);
const wsUrl = url.replace(/^http/, 'ws') + '/ws?token=';
const room = 'node-' + process.pid;
let n = 0, failed = 0;

function ok(cond, what) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? '' : 'not '}ok ${n} - ${what}`);
}

// One connection: requests with ids, acks matched by id, pushes queued.
function connect(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl + encodeURIComponent(token));
    const c = { ws, nextId: 1, pending: new Map(), pushes: [], waiters: [], closed: null };
    ws.onopen = () => resolve(c);
    ws.onerror = (e) => reject(new Error('websocket error: ' + (e.message || e.type)));
    ws.onclose = (e) => { c.closed = e.code; };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.id !== undefined && c.pending.has(m.id)) {
        c.pending.get(m.id)(m);
        c.pending.delete(m.id);
        return;
      }
      c.pushes.push(m);
      c.waiters = c.waiters.filter((w) => !w());
    };
  });
}

function request(c, event, data) {
  const id = c.nextId++;
  return new Promise((resolve) => {
    c.pending.set(id, resolve);
    c.ws.send(JSON.stringify({ id, event, data }));
  });
}

// Resolves with the first queued push with that event, or null after ms.
function waitPush(c, event, ms = 5000) {
  return new Promise((resolve) => {
    const take = () => {
      const i = c.pushes.findIndex((p) => p.event === event);
      if (i < 0) return false;
      resolve(c.pushes.splice(i, 1)[0]);
      return true;
    };
    if (take()) return;
    c.waiters.push(take);
    setTimeout(() => resolve(null), ms);
  });
}

async function main() {
  const a = await connect(tokenA);
  const b = await connect(tokenB);

  let r = await request(a, 'join:chat', { room });
  ok(r.ok === true && r.data.room === room && r.data.role === 'owner', 'the creator of a room owns it');
  r = await request(b, 'join:chat', { room });
  ok(r.ok === true && r.data.role === 'member' && r.data.member_count === 2, 'a second user joins as member');
  const joined = await waitPush(a, 'room:user-joined');
  ok(joined && joined.data.room === room && joined.data.user !== undefined, 'the room hears room:user-joined');

  r = await request(a, 'message:send', { room, text: 'héllo from node', client_msg_id: 'n-1' });
  ok(r.ok === true && r.data.message.seq === 1 && r.data.message.text === 'héllo from node',
     'message:send is acknowledged with seq 1');
  const first = r.data.message;
  const pushed = await waitPush(b, 'message:new');
  ok(pushed && pushed.data.message.id === first.id && pushed.data.message.text === first.text,
     'the other member receives message:new');
  const echoed = await waitPush(a, 'message:new', 300);
  ok(echoed === null, 'the sending connection does not get its own message:new');

  r = await request(a, 'message:send', { room, text: 'héllo from node', client_msg_id: 'n-1' });
  ok(r.ok === true && r.data.message.id === first.id && r.data.message.seq === 1,
     'a retry with the same client_msg_id returns the original');

  r = await request(b, 'message:send', { room, text: 'reply', reply_to: first.id });
  ok(r.ok === true && r.data.message.seq === 2 && r.data.message.reply_to === first.id,
     'a reply gets the next seq and keeps reply_to');

  r = await request(a, 'message:history', { room });
  ok(r.ok === true && r.data.messages.length === 2 && r.data.messages[0].seq === 1 &&
     r.data.has_more === false, 'history holds both messages, ascending, no more');

  r = await request(b, 'message:history', { room: 'not-joined-' + process.pid });
  ok(r.ok === false && r.error.code === 'forbidden', 'a room one is not a member of is forbidden');

  r = await request(b, 'message:send', { room, text: '' });
  ok(r.ok === false && r.error.code === 'bad_request', 'empty text is bad_request');

  b.ws.send('{not json');
  const err = await waitPush(b, 'error');
  ok(err && err.data.code === 'bad_request', 'malformed JSON gets an error push');
  r = await request(b, 'leave:chat', { room });
  ok(r.ok === true && r.data.room === room, 'the connection stayed open: leave:chat works');

  a.ws.close(1000);
  b.ws.close(1000);
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`not ok ${n + 1} - ${e.message}`);
  console.log(`1..${n + 1}`);
  process.exit(1);
});
