using System.Diagnostics;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// One receiving thread for many windows. Each member's side receives through the group page its partition shares
/// with that member's peer partition (one page per peer, made by the hypervisor), at its own vector. Members' rings
/// stay armed, so their writers raise the vector on each 0 to 1 pending edge; the receiver spins on the pages'
/// summary words and sleeps on all their futex words at once, and a wake costs a scan of the pending bits that are
/// set, not of every ring. A peer reaches only its own page: whatever it writes there, the other pages are read and
/// waited on as before, and a page that keeps raising nothing is demoted to polling (<see cref="GroupPageSet"/>).
/// Not thread safe: one receiving thread.
/// </summary>
internal sealed class GroupReceiver
{
    /// <summary>How often the members of a demoted page are polled.</summary>
    public static readonly TimeSpan DemotedPollInterval = TimeSpan.FromMilliseconds(1);

    private static readonly long s_pollTicks = (long)(DemotedPollInterval.TotalSeconds * Stopwatch.Frequency);

    private readonly Func<InterruptPage, InterruptGroup?> _findGroup;
    private readonly GroupPageSet _pages = new();
    private readonly Dictionary<WindowEndpoint, GroupMember> _members = new(ReferenceEqualityComparer.Instance);
    private readonly List<GroupMember> _ready = []; // members raised, added or re-queued: checked in order
    private readonly Waiter _waiter;
    private int _readyNext;
    private GroupMember? _last;

    /// <summary>Creates a receiver for a partition's grouped windows.</summary>
    /// <param name="findGroup">The partition's group page for a page a member receives through, or null if it has none.</param>
    /// <param name="strategy">How to wait.</param>
    public GroupReceiver(Func<InterruptPage, InterruptGroup?> findGroup, WaitStrategy strategy)
    {
        _findGroup = findGroup ?? throw new ArgumentNullException(nameof(findGroup));
        _waiter = new Waiter(strategy ?? throw new ArgumentNullException(nameof(strategy)), _pages);
    }

    /// <summary>The waiter (strategy, learned state, counters).</summary>
    public Waiter Waiter => _waiter;

    /// <summary>Members now.</summary>
    public int Count => _members.Count;

    /// <summary>The pages waited on and demoted (tests).</summary>
    internal GroupPageSet Pages => _pages;

    /// <summary>
    /// Adds an endpoint whose side receives through one of the partition's group pages, with a tag returned by
    /// <see cref="WaitAny"/>. Arms its ring for good; if data is already waiting it is reported at once.
    /// </summary>
    /// <exception cref="ArgumentException">The endpoint's side is not grouped on this partition, or it is a member already.</exception>
    /// <exception cref="InvalidOperationException">The group already waits on the most pages it can (one per peer partition), another group holds the channel, or a thread is waiting on the channel alone.</exception>
    /// <param name="endpoint">The member.</param>
    /// <param name="tag">Returned by <see cref="WaitAny"/> for it.</param>
    /// <param name="asyncReceive">Its channel's async receive source: a pending asynchronous receive makes the add fail, changing nothing.</param>
    public void Add(WindowEndpoint endpoint, object? tag = null, AsyncReceiveSource? asyncReceive = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var window = endpoint.Window;
        if (!window.IsGrouped(endpoint.Side))
        {
            throw new ArgumentException("The endpoint does not receive through a group page: make the channel with ChannelOptions.Grouped.", nameof(endpoint));
        }
        if (_members.ContainsKey(endpoint))
        {
            throw new ArgumentException("The channel is in the group already.", nameof(endpoint));
        }
        var page = window.GetInterruptPage(endpoint.Side);
        var vector = window.GetVector(endpoint.Side); // validated against the page when the window was opened
        endpoint.JoinGroup(asyncReceive); // throws, changing nothing, while a thread or an async receive waits on the channel alone or another group holds it
        try
        {
            AddMember(endpoint, tag, page, vector);
        }
        catch
        {
            endpoint.LeaveGroup();
            throw;
        }
    }

    private void AddMember(WindowEndpoint endpoint, object? tag, InterruptPage page, int vector)
    {
        var slot = _pages.Find(page);
        if (slot is null)
        {
            var group = _findGroup(page) ?? throw new ArgumentException("The endpoint does not receive through a group page of this partition: add channels of the partition the group was made for.", nameof(endpoint));
            try
            {
                slot = _pages.Add(group, this);
            }
            catch (ObjectDisposedException e)
            {
                throw new ArgumentException("The endpoint's channel already ended (its group page was dropped).", nameof(endpoint), e);
            }
        }
        if (slot.MemberAt(vector) is not null)
        {
            if (slot.Count == 0)
            {
                _pages.Remove(slot);
            }
            throw new ArgumentException($"Vector {vector} already belongs to a member (is the channel in the group already?).", nameof(endpoint));
        }
        var member = new GroupMember(endpoint, tag, slot, vector);
        slot.Set(vector, member);
        _members.Add(endpoint, member);
        endpoint.ArmReceive(); // full fence; then catch what arrived before the ring was armed
        if (endpoint.IsReceiveReady)
        {
            _ready.Add(member);
        }
    }

    /// <summary>Removes a member (e.g. after its channel ended); the last member with a peer drops that peer's page from the wait.</summary>
    public void Remove(WindowEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!_members.Remove(endpoint, out var member))
        {
            return;
        }
        member.Active = false;
        member.Slot.Clear(member.Vector);
        // The channel may stay open (received with TryReceive and no wait): its peer must stop raising a vector we no
        // longer read. A raise already under way, and the ends still to come (the peer's close, our own Dispose),
        // may reach the page once more each: the removal pays for them (an honest churn never demotes the page).
        endpoint.TryDisarmReceive();
        endpoint.LeaveGroup(); // after the disarm: it may now wait alone (its own waits route the raises to its own block)
        if (member.Slot.Count == 0)
        {
            _pages.Remove(member.Slot);
        }
        else
        {
            GroupPageSet.CreditRemoval(member.Slot);
        }
        if (_last == member)
        {
            _last = null;
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
        if (_last is { Active: true } last && last.Endpoint.IsReceiveReady)
        {
            // Again, but after the others that are ready: a member that stays ready (a busy or broken peer) never starves them.
            TakePending();
            PollDemoted();
            _ready.Add(last);
        }
        _last = null;
        while (true)
        {
            while (_readyNext < _ready.Count)
            {
                var member = _ready[_readyNext++];
                if (member.Active && member.Endpoint.IsReceiveReady)
                {
                    _last = member;
                    tag = member.Tag;
                    return member.Endpoint;
                }
            }
            _ready.Clear();
            _readyNext = 0;
            if (TakePending() || PollDemoted())
            {
                continue;
            }
            if (deadline == 0)
            {
                break;
            }
            // With a demoted page, wake at least every poll interval to poll its members.
            var now = Stopwatch.GetTimestamp();
            var until = _pages.Demoted.Count > 0 && deadline - now > s_pollTicks ? now + s_pollTicks : deadline;
            var target = new PendingTarget(_pages);
            if (!_waiter.Wait(ref target, until) && until == deadline)
            {
                break;
            }
        }
        tag = null;
        return null;
    }

    /// <summary>Takes every armed page's pending bits into the ready queue; judges each page by what its bits brought.</summary>
    private bool TakePending()
    {
        var pages = _pages.Armed;
        for (var i = pages.Length - 1; i >= 0; i--) // backwards: a demotion moves the last page into slot i
        {
            var slot = pages[i];
            if (!slot.Page.HasPending)
            {
                continue;
            }
            var pending = slot.Pending;
            var useful = false;
            // Only the words whose summary bit was set: the cost is the raised words, not the page's 64 (nor N members).
            for (var words = slot.Page.TakePendingWords(pending); words != 0; words &= words - 1)
            {
                var word = System.Numerics.BitOperations.TrailingZeroCount(words);
                var bits = pending[word];
                while (bits != 0)
                {
                    var bit = System.Numerics.BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    if (slot.MemberAt((word << 6) | bit) is { } member) // a bit the peer set is only a hint: range-checked, members only
                    {
                        _ready.Add(member);
                        useful |= member.Endpoint.IsReceiveReady;
                    }
                }
            }
            if (useful)
            {
                GroupPageSet.NoteUseful(slot);
            }
            else
            {
                _pages.NoteSpurious(slot);
            }
            pages = _pages.Armed;
        }
        return _ready.Count > 0;
    }

    /// <summary>Polls the members of demoted pages directly (their rings, never their page).</summary>
    private bool PollDemoted()
    {
        foreach (var slot in _pages.Demoted)
        {
            foreach (var member in slot.Members)
            {
                if (member is not null && member.Endpoint.IsReceiveReady)
                {
                    _ready.Add(member);
                }
            }
        }
        return _ready.Count > 0;
    }

    private readonly struct PendingTarget(GroupPageSet pages) : IWaitTarget
    {
        public bool IsReady => pages.AnyPending();

        public void Arm()
        {
            // Members stay armed for good.
        }

        public void Disarm()
        {
        }
    }
}
