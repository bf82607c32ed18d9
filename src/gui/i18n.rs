//! The window's languages: English and Simplified Chinese. Texts are written in English in the
//! code and looked up here; a text without a translation shows in English.

use crate::call::Status;
use crate::live::ShownStatus;

/// A language of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    /// English.
    #[default]
    #[serde(rename = "en")]
    En,
    /// Simplified Chinese.
    #[serde(rename = "zh")]
    Zh,
}

impl Lang {
    /// The system's language if it is Chinese, else English.
    pub fn from_system() -> Self {
        Self::from_locale(&sys_locale::get_locale().unwrap_or_default())
    }

    /// `zh`, `zh-CN`, `zh_CN.UTF-8`, … are Chinese; everything else is English.
    pub fn from_locale(locale: &str) -> Self {
        if locale.to_ascii_lowercase().starts_with("zh") {
            Self::Zh
        } else {
            Self::En
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Zh => "简体中文",
        }
    }

    /// `en` in this language.
    pub fn tr(self, en: &'static str) -> &'static str {
        match self {
            Self::En => en,
            Self::Zh => zh(en).unwrap_or(en),
        }
    }

    /// Where the session stands, in this language.
    pub fn status(self, status: ShownStatus) -> &'static str {
        match self {
            Self::En => status.english(),
            Self::Zh => match status {
                ShownStatus::NotConnected => "未连接",
                ShownStatus::Session(s) => match s {
                    Status::Connecting => "正在连接信令服务器",
                    Status::Joining => "正在加入房间",
                    Status::Waiting => "已在房间中，等待对方",
                    Status::InCall {
                        connected: false, ..
                    } => "对方已加入：正在协商通话",
                    Status::InCall {
                        connected: true, ..
                    } => "通话中",
                    Status::Offline => "信令连接中断：正在重连",
                    Status::Leaving => "正在离开房间",
                    Status::Finished => "已离开房间",
                },
                ShownStatus::LeftTheRoom => "已离开房间",
                ShownStatus::Ended => "已结束",
            },
        }
    }
}

fn zh(en: &str) -> Option<&'static str> {
    Some(match en {
        "Server" => "服务器",
        "Room" => "房间",
        "ICE server" => "ICE 服务器",
        "User" => "用户名",
        "Password" => "密码",
        "Connect" => "连接",
        "Leave" => "离开",
        "State" => "状态",
        "Language" => "语言",
        "Local:" => "本地:",
        "Remote:" => "远端:",
        "Offer" => "Offer",
        "Answer" => "Answer",
        "Copy" => "复制",
        "Save" => "保存",
        "Devices" => "设备",
        "Camera" => "摄像头",
        "Microphone" => "麦克风",
        "Speakers" => "扬声器",
        "Size" => "分辨率",
        "Frames/s" => "帧率",
        "Test picture" => "测试画面",
        "Test tone" => "测试音",
        "None" => "无",
        "Default microphone" => "默认麦克风",
        "Default speakers" => "默认扬声器",
        "Refresh" => "刷新",
        "Mute microphone" => "麦克风静音",
        "Camera off" => "关闭摄像头",
        "Share screen" => "共享屏幕",
        "Stop sharing" => "停止共享",
        "Sharing" => "正在共享",
        "Share your screen" => "共享你的屏幕",
        "Looking for screens and windows…" => "正在查找屏幕和窗口…",
        "Whole screen" => "整个屏幕",
        "Choose in the desktop's dialog" => "在桌面的对话框中选择",
        "Monitor" => "显示器",
        "Window" => "窗口",
        "Actual size" => "实际大小",
        "Echo cancellation" => "回声消除",
        "Noise suppression" => "噪声抑制",
        "Auto gain" => "自动增益",
        "Candidates" => "候选地址",
        "Statistics" => "统计",
        "local" => "本地",
        "remote" => "远端",
        "Selected pair" => "选中的候选对",
        "Bitrate (kbit/s)" => "码率 (kbit/s)",
        "Frames per second" => "每秒帧数",
        "Round-trip time (ms)" => "往返时延 (ms)",
        "Packet loss (%)" => "丢包率 (%)",
        "Delay (ms)" => "时延 (ms)",
        "video buffer" => "视频缓冲",
        "audio buffer" => "音频缓冲",
        "video - audio" => "视频 - 音频",
        "sent" => "发送",
        "received" => "接收",
        "Trust this certificate" => "信任此证书",
        "Do not trust" => "不信任",
        "The server's certificate is not trusted" => "服务器证书不受信任",
        "Fingerprint (SHA-256)" => "指纹 (SHA-256)",
        "Subject" => "主题",
        "Valid from" => "有效期自",
        "Valid until" => "有效期至",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_locale_and_falls_back_to_english() {
        assert_eq!(Lang::from_locale("zh_CN.UTF-8"), Lang::Zh);
        assert_eq!(Lang::from_locale("zh-Hans-CN"), Lang::Zh);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
        assert_eq!(Lang::Zh.tr("Connect"), "连接");
        assert_eq!(Lang::Zh.tr("no such text"), "no such text");
        assert_eq!(Lang::En.tr("Connect"), "Connect");
        let in_call = ShownStatus::Session(Status::InCall {
            role: crate::call::Role::Offerer,
            connected: true,
        });
        assert_eq!(Lang::Zh.status(in_call), "通话中");
        assert_eq!(Lang::En.status(in_call), "in a call");
        assert_eq!(Lang::Zh.status(ShownStatus::Ended), "已结束");
    }
}
