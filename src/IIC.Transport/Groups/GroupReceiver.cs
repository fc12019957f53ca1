using System.Diagnostics;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// One receiving thread for many windows: each member endpoint's side receives through the same
/// <see cref="InterruptGroup"/> page at its own vector. Members' rings stay armed, so their writers raise the
/// vector on each 0 to 1 pending edge; the receiver spins on one summary word and sleeps on one futex, and a
/// wake costs a scan of the pending bits that are set, not of every ring. Not thread safe: one receiving thread.
/// </summary>
internal sealed class GroupReceiver
{
    private readonly InterruptGroup _group;
    private readonly Waiter _waiter;
    private readonly WindowEndpoint?[] _members = new WindowEndpoint?[InterruptPage.MaxVectorCount];
    private readonly object?[] _tags = new object?[InterruptPage.MaxVectorCount];
    private readonly long[] _pending = new long[InterruptPage.MaxVectorCount / 64];
    private readonly int[] _ready = new int[(2 * InterruptPage.MaxVectorCount) + 1]; // pending set + members added or re-queued meanwhile
    private int _readyCount;
    private int _readyNext;
    private int _last = -1;
    private int _count;

    /// <summary>Creates a receiver for the windows grouped on <paramref name="group"/>.</summary>
    public GroupReceiver(InterruptGroup group, WaitStrategy strategy)
    {
        _group = group ?? throw new ArgumentNullException(nameof(group));
        _waiter = new Waiter(strategy ?? throw new ArgumentNullException(nameof(strategy)), group.Page, pendingIsReadiness: true);
    }

    /// <summary>The waiter (strategy, learned state, counters).</summary>
    public Waiter Waiter => _waiter;

    /// <summary>Members now.</summary>
    public int Count => _count;

    /// <summary>
    /// Adds an endpoint whose side receives through this group, with a tag returned by <see cref="WaitAny"/>.
    /// Arms its ring for good; if data is already waiting it is reported at once.
    /// </summary>
    /// <exception cref="ArgumentException">The endpoint's side does not receive through this group, or its vector is taken.</exception>
    public void Add(WindowEndpoint endpoint, object? tag = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var window = endpoint.Window;
        if (!window.IsGrouped(endpoint.Side) || window.GetInterruptPage(endpoint.Side) != _group.Page)
        {
            throw new ArgumentException("The endpoint does not receive through this group: connect it as a grouped channel of the partition that owns the group.", nameof(endpoint));
        }
        var vector = window.GetVector(endpoint.Side);
        if (_members[vector] is not null)
        {
            throw new ArgumentException($"Vector {vector} already belongs to another member.", nameof(endpoint));
        }
        _members[vector] = endpoint;
        _tags[vector] = tag;
        _count++;
        endpoint.ArmReceive(); // full fence; then catch what arrived before the ring was armed
        if (endpoint.IsReceiveReady)
        {
            _ready[_readyCount++] = vector;
        }
    }

    /// <summary>Removes a member (e.g. after its channel ended).</summary>
    public void Remove(WindowEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var vector = endpoint.Window.GetVector(endpoint.Side);
        if (_members[vector] == endpoint)
        {
            _members[vector] = null;
            _tags[vector] = null;
            _count--;
            if (_last == vector)
            {
                _last = -1;
            }
        }
    }

    /// <summary>
    /// Waits until a member is ready to receive (data, or its peer closed or died) or the deadline passes, and
    /// returns it; drain it with its receive or poll methods. A member returned last time that still has data
    /// is returned again (after the others that are ready).
    /// </summary>
    /// <param name="deadline">A <see cref="Stopwatch.GetTimestamp"/> value, 0 for no wait, <see cref="long.MaxValue"/> for none.</param>
    /// <param name="tag">The member's tag.</param>
    /// <returns>The ready member, or null at the deadline.</returns>
    public WindowEndpoint? WaitAny(long deadline, out object? tag)
    {
        if (_last >= 0 && _members[_last] is { IsReceiveReady: true })
        {
            _ready[_readyCount++] = _last;
        }
        _last = -1;
        while (true)
        {
            while (_readyNext < _readyCount)
            {
                var vector = _ready[_readyNext++];
                if (_members[vector] is { } member && member.IsReceiveReady)
                {
                    _last = vector;
                    tag = _tags[vector];
                    return member;
                }
            }
            _readyNext = _readyCount = 0;
            if (TakePending())
            {
                continue;
            }
            var target = new PendingTarget(_group.Page);
            if (deadline == 0 || !_waiter.Wait(ref target, deadline))
            {
                tag = null;
                return null;
            }
        }
    }

    private bool TakePending()
    {
        if (!_group.Page.HasPending)
        {
            return false;
        }
        Array.Clear(_pending);
        _group.Page.TakePending(_pending);
        for (var word = 0; word < _pending.Length; word++)
        {
            var bits = _pending[word];
            while (bits != 0)
            {
                var bit = System.Numerics.BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                var vector = (word << 6) | bit;
                if (_members[vector] is not null)
                {
                    _ready[_readyCount++] = vector;
                }
            }
        }
        return _readyCount > 0;
    }

    private readonly struct PendingTarget(InterruptPage page) : IWaitTarget
    {
        public bool IsReady => page.HasPending;

        public void Arm()
        {
            // Members stay armed for good.
        }

        public void Disarm()
        {
        }
    }
}
