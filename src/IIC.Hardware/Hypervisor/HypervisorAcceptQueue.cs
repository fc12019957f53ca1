using System.Diagnostics;
using System.Globalization;

namespace IIC.Hardware;

/// <summary>
/// A listener's accept queue, as the kernel keeps one for listen(2): the grants it has not read from its control
/// socket yet, at most <see cref="HypervisorOptions.MaxQueuedGrantsPerPartition"/>. A connect that finds the queue
/// full waits (in <see cref="PendingConnects"/>, within its own timeout and the pending quotas) and is granted, in
/// order, as soon as the listener reads; a busy listener is never a reason to fail a connector. Only a listener that
/// read nothing for <see cref="HypervisorOptions.AcceptStallTimeout"/> with its queue full is taken for stopped or
/// hung: the connects waiting for it fail with <see cref="ControlError.NotAccepting"/>, naming it.
/// </summary>
public sealed partial class Hypervisor
{
    /// <summary>Whether <paramref name="listener"/> can take another grant now.</summary>
    private bool HasRoom(ControlClient listener)
        => listener.Connected && listener.Outbound.GrantCount < _options.MaxQueuedGrantsPerPartition;

    /// <summary>Whether <paramref name="listener"/>'s accept queue is full and it read nothing for AcceptStallTimeout.</summary>
    private bool IsStalled(ControlClient listener, long now)
        => !HasRoom(listener) && listener.Outbound.StalledSince != 0
            && now - listener.Outbound.StalledSince >= (long)(_options.AcceptStallTimeout.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Grants the connects waiting for <paramref name="service"/>, oldest first, while its listener has room.</summary>
    private void GrantWaiting(string service)
    {
        while (_services.TryGetValue(service, out var listener) && HasRoom(listener) && _pending.TryTakeFor(service, out var pending))
        {
            Grant(pending.Client, pending.RequestId, service, pending.RingCapacity, pending.Grouped);
        }
    }

    /// <summary>After <paramref name="listener"/> read from its control socket: the connects its room now admits.</summary>
    private void GrantWaitingFor(ControlClient listener)
    {
        if (_pending.Count == 0 || !HasRoom(listener))
        {
            return;
        }
        foreach (var service in listener.Services.ToArray()) // a grant may detach the listener, which clears its services
        {
            if (_pending.HasWaitingFor(service))
            {
                GrantWaiting(service);
            }
        }
    }

    /// <summary>Fails the connects waiting for a listener that is stalled with its queue full (from the deadline check).</summary>
    private void FailWaitingForStalled(ControlClient listener, long now)
    {
        if (_pending.Count == 0 || listener.Services.Count == 0 || !IsStalled(listener, now))
        {
            return;
        }
        foreach (var service in listener.Services.ToArray())
        {
            var failed = 0;
            var reason = StalledReason(listener, service, now);
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
    }

    private string StalledReason(ControlClient listener, string service, long now)
        => string.Create(CultureInfo.InvariantCulture,
            $"partition '{listener.Name}' (pid {listener.Credentials.Pid}) offering '{service}' is stopped or hung: it read nothing from its control socket for {(now - listener.Outbound.StalledSince) / (double)Stopwatch.Frequency:0.#} s with {listener.Outbound.GrantCount} connections queued for it (AcceptStallTimeout {_options.AcceptStallTimeout.TotalSeconds:0.###} s); resume or restart it (OutboundStallTimeout detaches it)");

    private string BusyReason(ControlClient listener, string service, bool waited)
        => string.Create(CultureInfo.InvariantCulture,
            $"partition '{listener.Name}' (pid {listener.Credentials.Pid}) offering '{service}' is busy: {listener.Outbound.GrantCount} connections wait for it to read its control socket (MaxQueuedGrantsPerPartition) and {_pending.CountFor(service)} more connects wait behind them; {(waited ? "it did not take this one within the connect timeout: connect with a longer timeout, or make it accept faster" : "connect with a timeout to wait for it")}");
}
