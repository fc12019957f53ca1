using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// One group page a <see cref="GroupReceiver"/> waits on (the page this partition shares with one peer partition),
/// its members by vector, and how the page has behaved. The slot holds its own lease, so the page stays mapped while
/// the receiver reads it, whatever the partition and the windows do meanwhile.
/// </summary>
internal sealed class GroupPageSlot : IDisposable
{
    private readonly MappingLease _lease;
    private readonly InterruptGroup _group;
    private readonly object _owner;
    private GroupMember?[] _members = new GroupMember?[64];

    /// <exception cref="ObjectDisposedException">The group page was already dropped (its connections ended).</exception>
    /// <exception cref="InvalidOperationException">Another group of this partition already waits on the page.</exception>
    public GroupPageSlot(InterruptGroup group, object owner)
    {
        _lease = group.Memory.Lease();
        if (!group.TryClaimReceiver(owner))
        {
            _lease.Dispose();
            throw new InvalidOperationException("Another IicChannelGroup of this partition already receives grouped channels from this peer partition; a peer's group page can be waited on by one group (its pending bits are taken by whoever reads them): add all of a partition's grouped channels to one group, or remove them from the other group first.");
        }
        _group = group;
        _owner = owner;
        Page = group.Page;
    }

    public InterruptPage Page { get; }

    /// <summary>Members on this page.</summary>
    public int Count { get; private set; }

    /// <summary>Events that brought nothing (raised bits with no ready member, futex word bumps with nothing pending), less one per useful one; negative while removals' credit is unspent.</summary>
    public int Spurious { get; set; }

    /// <summary>True once the page misbehaved: it is no longer read nor waited on; its members are polled.</summary>
    public bool Demoted { get; set; }

    /// <summary>The futex word read before announcing sleep.</summary>
    public int Sequence { get; set; }

    /// <summary>Scratch for <see cref="InterruptPage.TakePendingWords"/>: only the words it returns are valid.</summary>
    public long[] Pending { get; } = new long[InterruptPage.MaxVectorCount / 64];

    /// <summary>The member at <paramref name="vector"/> (any value: it is range-checked), or null.</summary>
    public GroupMember? MemberAt(int vector) => (uint)vector < (uint)_members.Length ? _members[vector] : null;

    /// <summary>Every vector slot (members or nulls), for polling a demoted page.</summary>
    public ReadOnlySpan<GroupMember?> Members => _members;

    public void Set(int vector, GroupMember member)
    {
        if (vector >= _members.Length)
        {
            Array.Resize(ref _members, Math.Min(InterruptPage.MaxVectorCount, Math.Max(vector + 1, _members.Length * 2)));
        }
        _members[vector] = member;
        Count++;
    }

    public void Clear(int vector)
    {
        _members[vector] = null;
        Count--;
    }

    public void Dispose()
    {
        _group.ReleaseReceiver(_owner);
        _lease.Dispose();
    }
}
