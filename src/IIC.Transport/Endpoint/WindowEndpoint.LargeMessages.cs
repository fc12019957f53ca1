namespace IIC.Transport;

/// <summary>Switches of the large-message (fragment) paths, read once per process.</summary>
internal sealed partial class WindowEndpoint
{
    /// <summary>
    /// Whether Poll's reassembly returns each fragment's space to the writer as soon as it is copied out (default), or
    /// only when it finds no further fragment (as before round 7). <c>IIC_FRAGMENT_PUBLISH=0</c> in the environment
    /// starts the process with the old behaviour: the A/B switch for perf/IIC.Perf's sizes test (perf/RESULTS.md).
    /// </summary>
    internal static bool PublishEachFragment { get; } = Environment.GetEnvironmentVariable("IIC_FRAGMENT_PUBLISH") != "0";
}
