namespace IIC.Hardware;

// The writer's back pressure (issue 17, item 4; docs/window-layout.md, 4.4): a writer that finds the ring
// full sleeps on the consumer's head word after arming "room", and the reader's next head publish wakes it, the
// doorbell's mirror. The class's documentation is in RingWriter.cs.
public sealed unsafe partial class RingWriter
{
    /// <summary>Whether a record of <paramref name="payloadLength"/> fits now (re-reading the shared head if needed).</summary>
    public bool HasRoomFor(int payloadLength)
    {
        var needed = Needed(RecordHeader.Size + payloadLength, (int)(_tail & _mask));
        return _tail + needed - _cachedHead <= _usable || _tail + needed - ReadHead() <= _usable;
    }

    private static readonly TimeSpan s_maxRoomSleep = TimeSpan.FromMilliseconds(100); // one sleep; the loop re-arms

    /// <summary>Times <see cref="WaitForRoom"/> went to sleep in the kernel (owned by the writing thread).</summary>
    internal long RoomSleeps { get; private set; }

    /// <summary>
    /// Back pressure without spinning: sleeps until a record of <paramref name="payloadLength"/> fits or the
    /// deadline passes, woken by the reader when it returns space.
    /// <para>Protocol (the doorbell's mirror): arm "room" (an exchange, a full fence), re-read the head, and if
    /// still short sleep in FUTEX_WAIT on the head word itself, expecting the head just read. The reader, after
    /// each head publish, loads the room word and on a 1 -> 0 edge issues one FUTEX_WAKE. A head published
    /// between our re-read and our sleep makes the kernel refuse the sleep (the word changed), so a wake is never
    /// needed for it. The reader's load is not fenced (a fence on every publish would tax every message): in the
    /// window where its head store still sits in its store buffer while our whole re-read and syscall entry run,
    /// the wake can be missed, and the sleep's bound (the caller's deadline, which the sender keeps short to
    /// check for a dead peer anyway) ends it.</para>
    /// </summary>
    /// <returns>True when the record fits; false at the deadline.</returns>
    /// <exception cref="RingFaultException">The consumer's shared head is corrupt.</exception>
    public bool WaitForRoom(int payloadLength, long deadline)
    {
        if (HasRoomFor(payloadLength))
        {
            return true;
        }
        try
        {
            while (true)
            {
                Interlocked.Exchange(ref *_roomArmed, 1); // full fence: armed before the head is re-read
                if (HasRoomFor(payloadLength))
                {
                    return true;
                }
                var left = deadline - System.Diagnostics.Stopwatch.GetTimestamp();
                if (left <= 0)
                {
                    return false;
                }
                RoomSleeps++;
                // The low 32 bits of the head (little-endian): they change with every publish (by 64 or more).
                var sleep = System.Diagnostics.Stopwatch.GetElapsedTime(0, left);
                IIC.Native.Futex.Wait((int*)_sharedHead, (int)_cachedHead, sleep < s_maxRoomSleep ? sleep : s_maxRoomSleep);
            }
        }
        finally
        {
            Volatile.Write(ref *_roomArmed, 0);
        }
    }

    /// <summary>
    /// <see cref="WaitForRoom"/>'s first half for a waiter that sleeps elsewhere (one thread waiting on many rings with
    /// futex_waitv): arms "room" (full fence) and re-reads the head; if the record still does not fit, gives the word and
    /// value to sleep on (the head word, as WaitForRoom), which the reader's next head publish wakes. Nothing stays armed
    /// when it returns false. The caller keeps the ring mapped while it sleeps and calls <see cref="DisarmRoom"/> after.
    /// </summary>
    /// <returns>True when armed (the record does not fit); false when it fits now.</returns>
    /// <exception cref="RingFaultException">The consumer's shared head is corrupt.</exception>
    internal bool TryArmRoom(int payloadLength, out IIC.Native.FutexWaitTarget target)
    {
        Interlocked.Exchange(ref *_roomArmed, 1); // full fence: armed before the head is re-read
        bool fits;
        try
        {
            fits = HasRoomFor(payloadLength);
        }
        catch
        {
            Volatile.Write(ref *_roomArmed, 0);
            throw;
        }
        if (fits)
        {
            Volatile.Write(ref *_roomArmed, 0);
            target = default;
            return false;
        }
        RoomSleeps++;
        // The low 32 bits of the head just read (little-endian), as WaitForRoom sleeps on.
        target = new IIC.Native.FutexWaitTarget((int*)_sharedHead, (int)_cachedHead);
        return true;
    }

    /// <summary>Ends a wait armed by <see cref="TryArmRoom"/>.</summary>
    internal void DisarmRoom() => Volatile.Write(ref *_roomArmed, 0);
}
