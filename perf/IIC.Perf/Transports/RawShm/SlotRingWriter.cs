using System.Runtime.CompilerServices;
using IIC.Native;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.RawShm;

/// <summary>
/// The writing end of one raw-shm ring: copy the payload into the next slot, then publish it with one release
/// store of the slot header (length and sequence tag together). The reader's head is read only when the writer's
/// cached copy says the ring is full. With <c>park</c>, every publish is followed by FUTEX_WAKE on the header.
/// </summary>
internal sealed unsafe class SlotRingWriter
{
    private readonly byte* _slots;
    private readonly long* _head;
    private readonly int _stride;
    private readonly long _mask;
    private readonly int _slotCount;
    private readonly int _maxPayload;
    private readonly bool _park;
    private readonly RunGuard _guard;
    private long _sent;
    private long _cachedHead;

    public SlotRingWriter(byte* ring, SlotRingLayout layout, bool park, RunGuard guard)
    {
        _head = (long*)ring;
        _slots = ring + SlotRingLayout.ControlSize;
        _stride = layout.Stride;
        _slotCount = layout.SlotCount;
        _mask = layout.SlotCount - 1;
        _maxPayload = layout.MaxPayload;
        _park = park;
        _guard = guard;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Send(ReadOnlySpan<byte> message)
    {
        if ((uint)message.Length > (uint)_maxPayload)
        {
            ThrowTooLarge(message.Length);
        }
        var sequence = _sent;
        if (sequence - _cachedHead >= _slotCount)
        {
            WaitForSpace(sequence);
        }
        var slot = _slots + ((sequence & _mask) * _stride);
        message.CopyTo(new Span<byte>(slot + SlotRingLayout.HeaderSize, message.Length));
        // The publish: tag and length in one word, after the payload (release orders the payload before it).
        Volatile.Write(ref *(long*)slot, ((long)SlotTag.For(sequence) << 32) | (uint)message.Length);
        _sent = sequence + 1;
        if (_park)
        {
            Futex.Wake(SlotTag.Word(slot), 1);
        }
    }

    /// <summary>
    /// Zero-copy send, the poll-claim floor: the writer fills the next slot's payload in place, then the header is
    /// published exactly as <see cref="Send"/> publishes it (same stores, same release, no extra fence).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
        where TWriter : struct, IMessageWriter, allows ref struct
    {
        if ((uint)length > (uint)_maxPayload)
        {
            ThrowTooLarge(length);
        }
        var sequence = _sent;
        if (sequence - _cachedHead >= _slotCount)
        {
            WaitForSpace(sequence);
        }
        var slot = _slots + ((sequence & _mask) * _stride);
        writer.Write(new Span<byte>(slot + SlotRingLayout.HeaderSize, length));
        Volatile.Write(ref *(long*)slot, ((long)SlotTag.For(sequence) << 32) | (uint)length);
        _sent = sequence + 1;
        if (_park)
        {
            Futex.Wake(SlotTag.Word(slot), 1);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WaitForSpace(long sequence)
    {
        var spins = 0;
        while (true)
        {
            _cachedHead = Volatile.Read(ref *_head);
            if (sequence - _cachedHead < _slotCount)
            {
                return;
            }
            if (_park)
            {
                // The reader wakes the head word whenever it publishes; the timeout only re-checks the guard.
                Futex.Wait((int*)_head, (int)_cachedHead, TimeSpan.FromMilliseconds(50));
                _guard.Check();
            }
            else if ((++spins & SpinYield.Interval) == 0)
            {
                SpinYield.Pause(_guard);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowTooLarge(int length) => throw new ArgumentException($"A {length}-byte message does not fit a {_maxPayload}-byte raw-shm slot.");
}
