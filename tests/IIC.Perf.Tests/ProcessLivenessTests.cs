using System.Diagnostics;
using IIC.Perf.Harness;
using IIC.Tests;

namespace IIC.Perf.Tests;

/// <summary>The one liveness check ChildProcess and HelperProcess share (Harness/ProcessLiveness.cs), against real processes.</summary>
public sealed class ProcessLivenessTests
{
    [Fact]
    public void IsRunning_WhileTheChildRuns_AndNotOnceItExited()
    {
        // cat runs until its standard input closes.
        using var process = Process.Start(new ProcessStartInfo("cat") { RedirectStandardInput = true, UseShellExecute = false })!;
        Assert.True(ProcessLiveness.IsRunning(process));

        process.StandardInput.Close();

        WaitFor.Condition(() => !ProcessLiveness.IsRunning(process), "cat to exit once its input closed");
        Assert.True(process.HasExited);
    }

    [Fact]
    public void IsRunning_IsFalse_ForAProcessNeverStarted_OrDisposed()
    {
        using var never = new Process { StartInfo = new ProcessStartInfo("cat") };
        Assert.False(ProcessLiveness.IsRunning(never)); // HasExited throws: no process is associated

        var process = Process.Start(new ProcessStartInfo("cat") { RedirectStandardInput = true, UseShellExecute = false })!;
        var id = process.Id;
        try
        {
            process.Dispose();
            Assert.False(ProcessLiveness.IsRunning(process));
        }
        finally
        {
            KillById(id);
        }
    }

    private static void KillById(int id)
    {
        // The disposed handle cannot end it: end our child by its id.
        try
        {
            using var again = Process.GetProcessById(id);
            again.Kill();
            again.WaitForExit(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // already gone
        }
    }
}
