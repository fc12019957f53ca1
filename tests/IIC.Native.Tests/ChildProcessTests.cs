using IIC.Tests;
using Xunit.Sdk;

namespace IIC.Native.Tests;

/// <summary>The shared child-process harness itself: its checks must catch what they claim to.</summary>
public sealed class ChildProcessTests
{
    [Fact]
    public void AssertExit_MatchingCode_Passes()
    {
        using var child = ChildProcess.Start("exit-with", "3");
        child.AssertExit(3);
        Assert.Contains("exiting with 3", child.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void AssertExit_WrongCode_FailsWithChildsStderr()
    {
        using var child = ChildProcess.Start("exit-with", "5");

        var e = Assert.ThrowsAny<XunitException>(() => child.AssertExit(0));

        Assert.Contains("exited with 5, expected 0", e.Message, StringComparison.Ordinal);
        Assert.Contains("exiting with 5 as asked", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadLine_ChildExitsWithoutWriting_FailsPromptly()
    {
        using var child = ChildProcess.Start("exit-with", "0");
        var e = Assert.ThrowsAny<XunitException>(() => child.ReadLine());
        Assert.Contains("closed stdout", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Control_ChildNeverConnects_FailsPromptly()
    {
        using var child = ChildProcess.Start("exit-with", "0");
        var e = Assert.ThrowsAny<XunitException>(() => child.Control);
        Assert.Contains("exited before connecting", e.Message, StringComparison.Ordinal);
    }
}
