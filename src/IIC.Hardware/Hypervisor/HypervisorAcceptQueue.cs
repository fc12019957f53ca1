using System.Diagnostics;
using System.Globalization;

namespace IIC.Hardware;

/// <summary>
/// A listener's accept queue, as the kernel keeps one for listen(2): the grants it has not read from its control
/// socket yet, at most <see cref="HypervisorOptions.MaxQueuedGrantsPerPartition"/>, and per service the grants its
/// application has not taken yet (the listen backlog the Listen asked for: <see cref="ServiceBacklog"/>, credited back
/// by the partition's Accepted messages). A connect that finds the queue
/// full waits (in <see cref="PendingConnects"/>, within its own timeout and the pending quotas) and is granted, in
/// order, as soon as the listener reads; a busy listener is never a reason to fail a connector. Only a listener that
/// read nothing (or whose application took nothing) for <see cref="HypervisorOptions.AcceptStallTimeout"/> with its
/// queue (or backlog) full is taken for stopped or hung: the connects waiting for it fail with <see cref="ControlError.NotAccepting"/>, naming it.
/// </summary>
public sealed partial class Hypervisor
{
    /// <summary>Whether <paramref name="listener"/> can take another grant of <paramref name="service"/> now: room in its socket's queue and in the service's backlog.</summary>
    private bool HasRoom(ControlClient listener, string service)
        => listener.Connected && listener.Outbound.GrantCount < _options.MaxQueuedGrantsPerPartition
            && (!listener.Backlogs.TryGetValue(service, out var backlog) || !backlog.IsFull);

    /// <summary>
    /// Whether <paramref name="listener"/> is stopped or hung for <paramref name="service"/>: it read nothing from its
    /// socket for AcceptStallTimeout with its socket's queue full, or its application took nothing for AcceptStallTimeout
    /// with the service's backlog full.
    /// </summary>
    private bool IsStalled(ControlClient listener, string service, long now)
        => IsSocketStalled(listener, now) || IsBacklogStalled(listener, service, now);

    private bool IsSocketStalled(ControlClient listener, long now)
        => listener.Outbound.GrantCount >= _options.MaxQueuedGrantsPerPartition && listener.Outbound.StalledSince != 0
            && now - listener.Outbound.StalledSince >= StallTicks;

    private bool IsBacklogStalled(ControlClient listener, string service, long now)
        => listener.Backlogs.TryGetValue(service, out var backlog) && backlog.IsFull && now - backlog.FullSince >= StallTicks;

    private long StallTicks => (long)(_options.AcceptStallTimeout.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Grants the connects waiting for <paramref name="service"/>, oldest first, while its listener has room.</summary>
    private void GrantWaiting(string service)
    {
        while (_services.TryGetValue(service, out var listener) && HasRoom(listener, service) && _pending.TryTakeFor(service, out var pending))
        {
            Grant(pending.Client, pending.RequestId, service, pending.RingCapacity, pending.Grouped);
        }
    }

    /// <summary>After <paramref name="listener"/> read from its control socket: the connects its room now admits.</summary>
    private void GrantWaitingFor(ControlClient listener)
    {
        if (_pending.Count == 0 || !listener.Connected || listener.Outbound.GrantCount >= _options.MaxQueuedGrantsPerPartition)
        {
            return;
        }
        foreach (var service in listener.Services.ToArray()) // a grant may detach the listener, which clears its services
        {
            if (_pending.HasWaitingFor(service) && HasRoom(listener, service))
            {
                GrantWaiting(service);
            }
        }
    }

    /// <summary>Fails the connects waiting for a listener that is stalled with its queue full (from the deadline check).</summary>
    private void FailWaitingForStalled(ControlClient listener, long now)
    {
        if (_pending.Count == 0 || listener.Services.Count == 0)
        {
            return;
        }
        foreach (var service in listener.Services.ToArray())
        {
            if (!_pending.HasWaitingFor(service) || !IsStalled(listener, service, now))
            {
                continue;
            }
            FailWaiting(listener, service, StalledReason(listener, service, now));
        }
    }

    /// <summary>
    /// Fails the connects waiting for <paramref name="listener"/>'s services because it is being detached for not reading
    /// (OutboundStallTimeout, when that expires before AcceptStallTimeout): they waited for this listener, so they hear
    /// NotAccepting naming it now rather than UnknownService at their own timeout.
    /// </summary>
    private void FailWaitingForDetached(ControlClient listener, string detachReason)
    {
        if (_pending.Count == 0)
        {
            return;
        }
        foreach (var service in listener.Services.ToArray())
        {
            if (_pending.HasWaitingFor(service))
            {
                FailWaiting(listener, service, string.Create(CultureInfo.InvariantCulture,
                    $"partition '{listener.Name}' (pid {listener.Credentials.Pid}) offering '{service}' is stopped or hung and was detached: {detachReason}; restart it"));
            }
        }
    }

    private void FailWaiting(ControlClient listener, string service, string reason)
    {
        var failed = 0;
        while (_pending.TryTakeFor(service, out var pending))
        {
            SendError(pending.Client, pending.RequestId, ControlError.NotAccepting, reason);
            failed++;
        }
        if (failed > 0)
        {
            Log($"refused {failed} waiting connects: {reason}");
            if (Logger is { } logger)
            {
                HypervisorLog.Refused(logger, "Connect", listener.Credentials.Pid, ControlError.NotAccepting, $"{failed} waiting connects refused: {reason}");
            }
        }
    }

    private string StalledReason(ControlClient listener, string service, long now)
        => IsSocketStalled(listener, now)
            ? string.Create(CultureInfo.InvariantCulture,
                $"partition '{listener.Name}' (pid {listener.Credentials.Pid}) offering '{service}' is stopped or hung: it read nothing from its control socket for {(now - listener.Outbound.StalledSince) / (double)Stopwatch.Frequency:0.#} s with {listener.Outbound.GrantCount} connections queued for it (AcceptStallTimeout {_options.AcceptStallTimeout.TotalSeconds:0.###} s); resume or restart it (OutboundStallTimeout detaches it)")
            : string.Create(CultureInfo.InvariantCulture,
                $"partition '{listener.Name}' (pid {listener.Credentials.Pid}) offering '{service}' is stopped or hung: its application accepted nothing for {(now - listener.Backlogs[service].FullSince) / (double)Stopwatch.Frequency:0.#} s with its listen backlog of {listener.Backlogs[service].Limit} full (AcceptStallTimeout {_options.AcceptStallTimeout.TotalSeconds:0.###} s); make it call Accept, or give it a larger backlog");

    private string BusyReason(ControlClient listener, string service, bool waited)
        => string.Create(CultureInfo.InvariantCulture,
            $"partition '{listener.Name}' (pid {listener.Credentials.Pid}) offering '{service}' is busy: {listener.Outbound.GrantCount} connections wait for it to read its control socket (MaxQueuedGrantsPerPartition {_options.MaxQueuedGrantsPerPartition}), {listener.Backlogs.GetValueOrDefault(service)?.Untaken ?? 0} for its application to accept (listen backlog {listener.Backlogs.GetValueOrDefault(service)?.Limit ?? 0}) and {_pending.CountFor(service)} more connects wait behind them; {(waited ? "it did not take this one within the connect timeout: connect with a longer timeout, or make it accept faster" : "connect with a timeout to wait for it")}");
}
