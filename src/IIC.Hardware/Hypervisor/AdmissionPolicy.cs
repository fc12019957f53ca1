using IIC.Native;
using System.Globalization;

namespace IIC.Hardware;

/// <summary>
/// Who may attach, under which name, and who may offer or connect to which service. Identity comes from the
/// kernel (SO_PEERCRED uid and gid of the control connection); names are unique among attached partitions and
/// a name reserved in <see cref="HypervisorOptions.NameOwners"/> is held only by its uid. Name allow-lists are a
/// convenience on top (docs/guarantees.md, "Trust model").
/// </summary>
internal sealed class AdmissionPolicy(HypervisorOptions options, uint ownUid)
{
    private readonly Dictionary<string, ControlClient> _names = new(StringComparer.Ordinal);

    /// <summary>Null when <paramref name="client"/> may attach as <paramref name="name"/>; the refusal otherwise.</summary>
    public (ControlError Error, string Reason)? CheckAttach(ControlClient client, string name)
    {
        var credentials = client.Credentials;
        var allowed = options.AllowedUids.Count == 0 ? UserNamespace.IsSameUser(credentials.Uid, ownUid) : options.AllowedUids.Contains(credentials.Uid); // the overflow uid is never "the same user"
        if (!allowed)
        {
            return (ControlError.PolicyDenied, string.Create(CultureInfo.InvariantCulture,
                $"partition '{name}' (pid {credentials.Pid}, uid {credentials.Uid}) is not allowed: this hypervisor admits only uid {(options.AllowedUids.Count == 0 ? ownUid.ToString(CultureInfo.InvariantCulture) : string.Join(",", options.AllowedUids))}"));
        }
        if (options.NameOwners.TryGetValue(name, out var owner) && owner != credentials.Uid)
        {
            return (ControlError.PolicyDenied, string.Create(CultureInfo.InvariantCulture,
                $"the name '{name}' is reserved for uid {owner}; uid {credentials.Uid} (pid {credentials.Pid}) may not attach under it"));
        }
        if (_names.TryGetValue(name, out var holder))
        {
            return (ControlError.DuplicateName, string.Create(CultureInfo.InvariantCulture,
                $"the name '{name}' is held by an attached partition (pid {holder.Credentials.Pid}, uid {holder.Credentials.Uid}); names are unique: choose another or wait until it detaches"));
        }
        return null;
    }

    /// <summary>Records that <paramref name="client"/> holds its name.</summary>
    public void Hold(ControlClient client) => _names[client.Name!] = client;

    /// <summary>Frees the name <paramref name="client"/> held.</summary>
    public void Free(ControlClient client)
    {
        if (client.Name is { } name && _names.TryGetValue(name, out var holder) && holder == client)
        {
            _names.Remove(name);
        }
    }

    /// <summary>Whether <paramref name="client"/> may offer or connect to <paramref name="service"/>.</summary>
    public bool MayUse(ControlClient client, string service)
        => (!options.ServicePartitions.TryGetValue(service, out var names) || names.Contains(client.Name!))
        && (!options.ServiceUids.TryGetValue(service, out var uids) || uids.Contains(client.Credentials.Uid))
        && (!options.ServiceGids.TryGetValue(service, out var gids) || gids.Contains(client.Credentials.Gid));
}
