// The peer of make bench-ws in Node: a counter server written the way the
// ws README shows ("Server broadcast": every client of wss.clients whose
// readyState is WebSocket.OPEN), its action a toggle of one state so that the
// messages match gpiows's: every connect and disconnect broadcasts
// {"type":"users","count":N}, every toggle {"type":"value","value":V} to
// everyone, the sender included.
//
//	node counter.mjs PORT
import WebSocket, { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]), backlog: 511 });
let value = 0;

function broadcast(data) {
  wss.clients.forEach(function each(client) {
    if (client.readyState === WebSocket.OPEN) {
      client.send(data);
    }
  });
}

function usersEvent() {
  return JSON.stringify({ type: 'users', count: wss.clients.size });
}

wss.on('connection', function connection(ws) {
  ws.on('error', console.error);
  broadcast(usersEvent());
  ws.send(JSON.stringify({ type: 'value', value }));
  ws.on('message', function message(data) {
    const event = JSON.parse(data);
    if (event.action === 'toggle') {
      value = 1 - value;
      broadcast(JSON.stringify({ type: 'value', value }));
    } else {
      console.error('unsupported event', event);
    }
  });
  ws.on('close', function close() {
    broadcast(usersEvent());
  });
});
