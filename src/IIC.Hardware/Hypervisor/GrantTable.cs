namespace IIC.Hardware;

/// <summary>
/// The live grants by id, and by partition (each <see cref="ControlClient.Grants"/>), so that Release is O(1)
/// and a detach costs only the grants of the partition that left. Owns each grant's window (the hypervisor's
/// descriptor, never mapped on the connect path and closed by the <see cref="HypervisorHelper"/> once released; partitions keep their own) and gives back its vectors on the pair group pages and quota when it ends.
/// </summary>
internal sealed class GrantTable(QuotaLedger ledger, PairGroups pages, HypervisorHelper helper)
{
    private readonly Dictionary<long, GrantRecord> _grants = [];

    public int Count => _grants.Count;

    public bool TryGet(long id, out GrantRecord grant) => _grants.TryGetValue(id, out grant!);

    public void Add(GrantRecord grant)
    {
        _grants.Add(grant.Id, grant);
        grant.Listener.Grants.Add(grant);
        grant.Connector.Grants.Add(grant);
        ledger.ChargeGrant(grant.Listener, grant.Connector, grant.Bytes);
    }

    public void Remove(GrantRecord grant)
    {
        if (!_grants.Remove(grant.Id))
        {
            return;
        }
        grant.Listener.Grants.Remove(grant);
        grant.Connector.Grants.Remove(grant);
        ledger.RefundGrant(grant.Listener, grant.Connector, grant.Bytes);
        helper.Retire(grant.Window); // closed off the event loop (no mapping to undo); partitions keep their own
        if (grant.ListenerPage is { } listenerPage)
        {
            pages.Give(listenerPage, grant.ListenerVector);
        }
        if (grant.ConnectorPage is { } connectorPage)
        {
            pages.Give(connectorPage, grant.ConnectorVector);
        }
    }
}
