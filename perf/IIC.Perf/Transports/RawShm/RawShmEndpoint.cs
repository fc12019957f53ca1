using IIC.Native;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.RawShm;

/// <summary>
/// One end of a raw-shm link: writes one ring of the memfd, reads the other. Zero copy both ways too (poll the slot
/// in place, fill the next outgoing slot in place), so the poll-claim ping-pong has a like-for-like floor.
/// </summary>
internal sealed unsafe class RawShmEndpoint : IMessageEndpoint, IInPlaceReceiver, IClaimSender, IZeroCopyEndpoint
{
    private readonly MappingLease _lease;
    private readonly MappedMemory? _ownedMemory;
    private readonly SlotRingWriter _writer;
    private readonly SlotRingReader _reader;

    /// <param name="memory">The mapped memfd; leased for the endpoint's lifetime.</param>
    /// <param name="ownsMemory">Dispose the mapping with the endpoint (the child side).</param>
    public RawShmEndpoint(MappedMemory memory, bool ownsMemory, SlotRingLayout layout, LinkRole role, bool park, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (memory.Length < layout.MappingLength)
        {
            throw new ArgumentException($"The raw-shm mapping is {memory.Length} bytes; the layout needs {layout.MappingLength}.", nameof(memory));
        }
        _lease = memory.Lease();
        _ownedMemory = ownsMemory ? memory : null;
        var clientToServer = _lease.Base;
        var serverToClient = _lease.Base + layout.RingBytes;
        _writer = new SlotRingWriter(role == LinkRole.Client ? clientToServer : serverToClient, layout, park, guard);
        _reader = new SlotRingReader(role == LinkRole.Client ? serverToClient : clientToServer, layout, park, guard);
    }

    public void Send(ReadOnlySpan<byte> message) => _writer.Send(message);

    public int Receive(Span<byte> buffer) => _reader.Receive(buffer);

    public int Poll<TConsumer>(ref TConsumer consumer, int limit)
        where TConsumer : struct, IMessageConsumer
        => _reader.Poll(ref consumer, limit);

    public void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
        where TWriter : struct, IMessageWriter, allows ref struct
        => _writer.SendInPlace(length, ref writer);

    public TResult Run<TResult>(IZeroCopyVisitor<TResult> visitor)
    {
        ArgumentNullException.ThrowIfNull(visitor);
        return visitor.Visit(new Link(_writer, _reader));
    }

    public void Dispose()
    {
        _lease.Dispose();
        _ownedMemory?.Dispose();
    }

    /// <summary>The two rings as a struct link, so the harness's zero-copy loop calls them directly (see IZeroCopyEndpoint).</summary>
    private readonly struct Link(SlotRingWriter writer, SlotRingReader reader) : IZeroCopyLink
    {
        public int Poll<TConsumer>(ref TConsumer consumer, int limit)
            where TConsumer : struct, IMessageConsumer
            => reader.Poll(ref consumer, limit);

        public void SendInPlace<TWriter>(int length, scoped ref TWriter writer1)
            where TWriter : struct, IMessageWriter, allows ref struct
            => writer.SendInPlace(length, ref writer1);
    }
}
