using System.Net.Sockets;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.Streams;

/// <summary>
/// A message endpoint over a connected stream socket (Unix or TCP). Every message of a run has the same size, so
/// framing is by size alone: one send per message, receives until the message is complete. Blocking calls, with the
/// run's remaining time as the socket timeouts.
/// </summary>
internal sealed class SocketEndpoint : IMessageEndpoint
{
    private readonly Socket _socket;
    private readonly int _messageSize;

    public SocketEndpoint(Socket socket, int messageSize, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(guard);
        _socket = socket;
        _messageSize = messageSize;
        _socket.Blocking = true;
        _socket.ReceiveTimeout = guard.RemainingMilliseconds;
        _socket.SendTimeout = guard.RemainingMilliseconds;
        if (socket.ProtocolType == ProtocolType.Tcp)
        {
            _socket.NoDelay = true; // a benchmark of messages, not of Nagle's algorithm
        }
    }

    public void Send(ReadOnlySpan<byte> message)
    {
        while (!message.IsEmpty)
        {
            message = message[_socket.Send(message, SocketFlags.None)..];
        }
    }

    public int Receive(Span<byte> buffer)
    {
        var message = buffer[.._messageSize];
        var received = 0;
        while (received < message.Length)
        {
            var count = _socket.Receive(message[received..], SocketFlags.None);
            if (count == 0)
            {
                throw new PeerGoneException($"The peer closed the socket after {received} of {_messageSize} bytes of a message.");
            }
            received += count;
        }
        return received;
    }

    public void Dispose() => _socket.Dispose();
}
