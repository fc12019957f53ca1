using IIC.Perf.Core;

namespace IIC.Perf.Transports.Streams;

/// <summary>
/// A message endpoint over two one-way byte streams (pipes), framed by the run's fixed message size: one write per
/// message, reads until the message is complete. Reads block without a timeout of their own: the harness kills a
/// child that outlives the run's deadline, which ends them with end-of-stream.
/// </summary>
internal sealed class StreamEndpoint(Stream input, Stream output, int messageSize) : IMessageEndpoint
{
    public void Send(ReadOnlySpan<byte> message) => output.Write(message);

    public int Receive(Span<byte> buffer)
    {
        var message = buffer[..messageSize];
        var received = 0;
        while (received < message.Length)
        {
            var count = input.Read(message[received..]);
            if (count == 0)
            {
                throw new PeerGoneException($"The peer closed its pipe after {received} of {messageSize} bytes of a message.");
            }
            received += count;
        }
        return received;
    }

    public void Dispose()
    {
        input.Dispose();
        output.Dispose();
    }
}
