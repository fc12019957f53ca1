using System.Globalization;

namespace IIC.Hardware;

/// <summary>
/// What each partition, each uid and the whole hypervisor holds (grants, pending connects, window bytes) against
/// the limits in <see cref="HypervisorOptions"/>. A request that would exceed one gets a reason naming the limit,
/// the holder and the option that raises it; nothing is charged then. Window bytes are charged to the connector
/// (who chose the ring size); a grant counts against both ends' grant limits.
/// </summary>
internal sealed class QuotaLedger(HypervisorOptions options)
{
    private readonly Dictionary<uint, Usage> _byUid = [];
    private readonly Usage _total = new();

    public int Grants => _total.Grants;

    public int Pending => _total.Pending;

    public long WindowBytes => _total.WindowBytes;

    /// <summary>Null when <paramref name="connector"/> may open a grant of <paramref name="bytes"/> to <paramref name="listener"/>; the reason otherwise.</summary>
    public string? CheckGrant(ControlClient listener, ControlClient connector, long bytes)
    {
        foreach (var client in listener == connector ? new[] { connector } : new[] { connector, listener })
        {
            if (client.Grants.Count >= options.MaxGrantsPerPartition)
            {
                return Say($"{client.Describe()} holds {client.Grants.Count} connections, the most a partition may hold (MaxGrantsPerPartition = {options.MaxGrantsPerPartition})");
            }
            var uid = UsageOf(client.Credentials.Uid);
            if (uid.Grants >= options.MaxGrantsPerUid)
            {
                return Say($"the partitions of uid {client.Credentials.Uid} hold {uid.Grants} connections, the most one user may hold (MaxGrantsPerUid = {options.MaxGrantsPerUid})");
            }
        }
        if (_total.Grants >= options.MaxGrants)
        {
            return Say($"the hypervisor holds {_total.Grants} connections, its limit (MaxGrants = {options.MaxGrants})");
        }
        if (connector.WindowBytes + bytes > options.MaxWindowBytesPerPartition)
        {
            return Say($"{connector.Describe()} holds {connector.WindowBytes} window bytes; a window of {bytes} more would pass its limit (MaxWindowBytesPerPartition = {options.MaxWindowBytesPerPartition}); use smaller rings or release connections");
        }
        var connectorUid = UsageOf(connector.Credentials.Uid);
        if (connectorUid.WindowBytes + bytes > options.MaxWindowBytesPerUid)
        {
            return Say($"the partitions of uid {connector.Credentials.Uid} hold {connectorUid.WindowBytes} window bytes; {bytes} more would pass the limit (MaxWindowBytesPerUid = {options.MaxWindowBytesPerUid})");
        }
        if (_total.WindowBytes + bytes > options.MaxWindowBytes)
        {
            return Say($"the hypervisor's windows total {_total.WindowBytes} bytes; {bytes} more would pass its limit (MaxWindowBytes = {options.MaxWindowBytes})");
        }
        return null;
    }

    /// <summary>Null when <paramref name="client"/> may leave one more Connect waiting; the reason otherwise.</summary>
    public string? CheckPending(ControlClient client)
    {
        if (client.Pending.Count >= options.MaxPendingConnectsPerPartition)
        {
            return Say($"{client.Describe()} has {client.Pending.Count} connects waiting for services or their busy listeners, the most a partition may (MaxPendingConnectsPerPartition = {options.MaxPendingConnectsPerPartition})");
        }
        var uid = UsageOf(client.Credentials.Uid);
        if (uid.Pending >= options.MaxPendingConnectsPerUid)
        {
            return Say($"the partitions of uid {client.Credentials.Uid} have {uid.Pending} connects waiting, the most one user may (MaxPendingConnectsPerUid = {options.MaxPendingConnectsPerUid})");
        }
        return _total.Pending >= options.MaxPendingConnects
            ? Say($"the hypervisor has {_total.Pending} connects waiting, its limit (MaxPendingConnects = {options.MaxPendingConnects})")
            : null;
    }

    public void ChargeGrant(ControlClient listener, ControlClient connector, long bytes)
    {
        UsageOf(listener.Credentials.Uid).Grants++;
        if (connector != listener)
        {
            UsageOf(connector.Credentials.Uid).Grants++;
        }
        _total.Grants++;
        connector.WindowBytes += bytes;
        UsageOf(connector.Credentials.Uid).WindowBytes += bytes;
        _total.WindowBytes += bytes;
    }

    public void RefundGrant(ControlClient listener, ControlClient connector, long bytes)
    {
        UsageOf(listener.Credentials.Uid).Grants--;
        if (connector != listener)
        {
            UsageOf(connector.Credentials.Uid).Grants--;
        }
        _total.Grants--;
        connector.WindowBytes -= bytes;
        UsageOf(connector.Credentials.Uid).WindowBytes -= bytes;
        _total.WindowBytes -= bytes;
    }

    public void ChargePending(ControlClient client)
    {
        UsageOf(client.Credentials.Uid).Pending++;
        _total.Pending++;
    }

    public void RefundPending(ControlClient client)
    {
        UsageOf(client.Credentials.Uid).Pending--;
        _total.Pending--;
    }

    private Usage UsageOf(uint uid)
    {
        if (!_byUid.TryGetValue(uid, out var usage))
        {
            _byUid[uid] = usage = new Usage();
        }
        return usage;
    }

    private static string Say(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private sealed class Usage
    {
        public int Grants { get; set; }

        public int Pending { get; set; }

        public long WindowBytes { get; set; }
    }
}
