namespace IIC.Native.Tests;

public sealed class CredentialsTests
{
    [Fact]
    public void Current_MatchesTheRuntimeAndTheKernel()
    {
        Assert.Equal(Environment.ProcessId, Credentials.ProcessId);
        Assert.Equal(new PeerCredentials(Credentials.ProcessId, Credentials.EffectiveUserId, Credentials.EffectiveGroupId), Credentials.Current);
        using var file = MemoryFile.Create("iic-owner");
        var status = file.GetStatus();
        Assert.Equal(Credentials.EffectiveUserId, status.OwnerUid); // a new file belongs to the creator
        Assert.Equal(Credentials.EffectiveGroupId, status.OwnerGid);
        Assert.Equal(Credentials.UserId, Credentials.EffectiveUserId); // tests do not run setuid
        Assert.Equal(Credentials.GroupId, Credentials.EffectiveGroupId);
    }
}
