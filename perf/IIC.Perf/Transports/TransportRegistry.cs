using IIC.Perf.Core;
using IIC.Perf.Isolation;
using IIC.Perf.Transports.Iic;
using IIC.Perf.Transports.RawShm;
using IIC.Perf.Transports.Streams;
using IIC.Perf.Transports.Veth;

namespace IIC.Perf.Transports;

/// <summary>Every transport the harness knows, in the order of the tables. Adding a transport is one line here.</summary>
internal static class TransportRegistry
{
    /// <summary>New instances (a transport may hold run-wide resources, e.g. tcp-veth's namespaces; dispose them at the end).</summary>
    public static IReadOnlyList<IBenchTransport> Create()
    {
        var veth = new TcpVethTransport(); // one veth pair per run, shared with its namespaced variant
        return
    [
        new IicTransport(),
        new IicTransport(singleThreaded: true), // the cost of the thread-safe default, measured in the same run
        new RawShmTransport(park: false),
        new RawShmTransport(park: true),
        new UdsTransport(),
        new TcpTransport(),
        new PipeTransport(),
        veth,
        new NamespacedIicTransport(),
        new NamespacedTransport(veth),
    ];
    }

    /// <summary>The transport with this name, or null.</summary>
    public static IBenchTransport? Find(IReadOnlyList<IBenchTransport> transports, string name)
        => transports.FirstOrDefault(transport => string.Equals(transport.Name, name, StringComparison.OrdinalIgnoreCase));
}
