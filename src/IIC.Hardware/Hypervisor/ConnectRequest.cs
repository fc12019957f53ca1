using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// A Connect request's fields and its caller's deadline, checked before anything is sent (one place for
/// <see cref="Partition.Connect"/> and <see cref="Partition.ConnectAsync"/>).
/// </summary>
internal readonly record struct ConnectRequest(string Service, uint Capacity, uint WaitMs, bool Grouped, Deadline Deadline)
{
    private static readonly TimeSpan s_minimumReplyWait = TimeSpan.FromMilliseconds(500);

    /// <summary>Writes the request's fields (static: nothing allocated per request).</summary>
    public static readonly ControlBody<ConnectRequest> Write = static (ref ControlWriter w, ConnectRequest request) =>
    {
        w.WriteString(request.Service);
        w.WriteUInt32(request.Capacity);
        w.WriteUInt32(request.WaitMs);
        w.WriteUInt32(request.Grouped ? 1u : 0u);
    };

    /// <summary>Checks the arguments and computes both waits.</summary>
    /// <exception cref="ArgumentException">The service name or ring capacity is not valid, or the timeout is negative.</exception>
    public static ConnectRequest Create(string service, int ringCapacity, TimeSpan? timeout, bool grouped)
    {
        ControlProtocol.ValidateName(service, nameof(service));
        DescriptorRing.ValidateCapacity(ringCapacity);
        var wait = timeout ?? TimeSpan.FromSeconds(5);
        Deadline.ThrowIfNegative(wait, nameof(timeout));
        // The timeout bounds the whole call, also against a hypervisor that does not answer; a very short one still
        // leaves the hypervisor half a second to answer (TimeSpan.Zero: "not offered" at once, not "no answer").
        var deadline = Deadline.After(wait < s_minimumReplyWait && wait != Timeout.InfiniteTimeSpan ? s_minimumReplyWait : wait, nameof(timeout));
        // The hypervisor waits a little less for the service than we wait for its answer, so that "not offered"
        // arrives before our own deadline, from the hypervisor that knows why.
        var hypervisorWait = deadline.IsInfinite ? 600_000
            : wait < s_minimumReplyWait ? wait.TotalMilliseconds
            : Math.Min((wait - TimeSpan.FromMilliseconds(Math.Min(250, wait.TotalMilliseconds / 5))).TotalMilliseconds, 600_000);
        return new ConnectRequest(service, (uint)ringCapacity, (uint)hypervisorWait, grouped, deadline);
    }
}
