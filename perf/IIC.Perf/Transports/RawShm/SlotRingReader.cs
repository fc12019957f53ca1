using System.Runtime.CompilerServices;
using IIC.Native;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.RawShm;

/// <summary>
/// The reading end of one raw-shm ring. It waits on the header of its next slot itself (never on a shared tail),
/// so a small message arrives in the same cache line as the signal that it is there. It publishes its head only
/// every quarter ring, which is all the writer needs to reuse slots. Spin: a tight loop of acquire loads. Park:
/// FUTEX_WAIT on the slot's tag word as soon as the slot is empty.
/// </summary>
internal sealed unsafe class SlotRingReader
{
    private readonly byte* _slots;
    private readonly long* _head;
    private readonly int _stride;
    private readonly long _mask;
    private readonly int _maxPayload;
    private readonly int _publishEvery;
    private readonly bool _park;
    private readonly RunGuard _guard;
    private long _received;
    private long _published;

    public SlotRingReader(byte* ring, SlotRingLayout layout, bool park, RunGuard guard)
    {
        _head = (long*)ring;
        _slots = ring + SlotRingLayout.ControlSize;
        _stride = layout.Stride;
        _mask = layout.SlotCount - 1;
        _maxPayload = layout.MaxPayload;
        _publishEvery = Math.Max(1, layout.SlotCount / 4);
        _park = park;
        _guard = guard;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Receive(Span<byte> buffer)
    {
        var slot = _slots + ((_received & _mask) * _stride);
        var header = Volatile.Read(ref *(long*)slot);
        if (SlotTag.Of(header) != SlotTag.For(_received))
        {
            header = WaitForMessage(slot);
        }
        var length = CheckLength((int)header, buffer.Length);
        new ReadOnlySpan<byte>(slot + SlotRingLayout.HeaderSize, length).CopyTo(buffer);
        Consumed();
        return length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Poll<TConsumer>(ref TConsumer consumer, int limit)
        where TConsumer : struct, IMessageConsumer
    {
        var slot = _slots + ((_received & _mask) * _stride);
        var header = Volatile.Read(ref *(long*)slot);
        if (SlotTag.Of(header) != SlotTag.For(_received))
        {
            header = WaitForMessage(slot);
        }
        var count = 0;
        while (true)
        {
            var length = CheckLength((int)header, _maxPayload);
            consumer.OnMessage(new ReadOnlySpan<byte>(slot + SlotRingLayout.HeaderSize, length));
            Consumed(); // only after the consumer is done with the slot in place
            if (++count >= limit)
            {
                return count;
            }
            slot = _slots + ((_received & _mask) * _stride);
            header = Volatile.Read(ref *(long*)slot);
            if (SlotTag.Of(header) != SlotTag.For(_received))
            {
                return count;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Consumed()
    {
        var received = ++_received;
        if (received - _published >= _publishEvery)
        {
            Publish(received);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Publish(long received)
    {
        Volatile.Write(ref *_head, received);
        _published = received;
        if (_park)
        {
            Futex.Wake((int*)_head, 1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private long WaitForMessage(byte* slot)
    {
        var tag = SlotTag.For(_received);
        var spins = 0;
        while (true)
        {
            var header = Volatile.Read(ref *(long*)slot);
            var seen = SlotTag.Of(header);
            if (seen == tag)
            {
                return header;
            }
            if (_park)
            {
                // Sleep while the tag still holds what we saw; the writer wakes this word after every publish.
                Futex.Wait(SlotTag.Word(slot), seen, TimeSpan.FromMilliseconds(50));
                _guard.Check();
            }
            else if ((++spins & SpinYield.Interval) == 0)
            {
                SpinYield.Pause(_guard);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int CheckLength(int length, int room)
    {
        if ((uint)length > (uint)_maxPayload || length > room)
        {
            ThrowBadLength(length, room);
        }
        return length;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadLength(int length, int room)
        => throw new InvalidDataException($"raw-shm slot {_received & _mask} holds length {length}, more than the slot ({_maxPayload} B) or the buffer ({room} B).");
}
